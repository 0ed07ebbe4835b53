#!/usr/bin/env -S npx tsx
// The converter's benchmark: a seeded, signed corpus; convert at -j1 and -jN with and without
// signature checks; gzip -6 of the same file as the yardstick; the raw Schnorr verify rate.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { ensureMergedCorpus, ensureSignedCorpus } from '../lib/dev/bench-corpus.ts';
import { runScript } from '../lib/cli/run.ts';
import { ROOT } from '../lib/paths.ts';
import { verifySignature } from '../lib/nostr/validate.ts';

await runScript({
  command: 'npx tsx scripts/bench.ts',
  synopsis: '[--events N] [--seed S] [--dir DIR]',
  about: `
Generates (once, then cached in DIR) a corpus of N signed events from seed S (default 100000,
seed 1, DIR .bench), then prints, all from one run so that the ratios hold on a noisy machine:
  - convert -j1 and -jN (N = CPUs), full validation and with --validate-signatures=false,
    without the index (make bench-index measures what the index adds)
  - gzip -6 over the same input, the reference for the signature-off target
  - tiny-secp256k1's raw single-core Schnorr verify rate, the reference for the full target
  - convert -jN with full validation of the corpus followed by half its lines again (as two
    relays' dumps merged: a third of the lines are duplicates, whose signatures are skipped)
`,
  flags: {
    events: { kind: 'int', default: 100_000, min: 20_000, max: 10_000_000, help: 'events in the corpus' },
    seed: { kind: 'int', value: 'S', default: 1, min: 0, max: 2 ** 31, help: 'seed of the corpus' },
    dir: { kind: 'string', value: 'DIR', default: path.join(ROOT, '.bench'), defaultText: '.bench', help: 'where the corpus is cached' },
  },
}, async ({ flags }) => {
  const count = flags.events;
  const seed = flags.seed;
  const dir = path.resolve(flags.dir);
  const cores = os.availableParallelism();
  const corpus = await ensureSignedCorpus(dir, count, seed);
  const bytes = fs.statSync(corpus).size;
  console.log(`corpus: ${corpus}, ${count} events, ${(bytes / 1e6).toFixed(1)} MB, ${Math.round(bytes / count)} B/event; ${cores} CPUs; node ${process.version}`);

  // References are measured right before and after the runs they judge, and averaged: the
  // machine is shared, so only ratios within the same minute mean much.
  const gzip = () => timed(() => $`gzip -6 -c ${corpus} > /dev/null`);
  const runs: Record<string, number> = {};
  const convert = async (sig: boolean, j: number, input = corpus, lines = count, label = '') => {
    const out = path.join(dir, 'out');
    fs.rmSync(out, { recursive: true, force: true });
    const name = `${sig ? 'full' : 'sig-off'} -j${j}${label}`;
    // node --import tsx runs the same code as npx tsx, without npx looking itself up (~0.8 s).
    runs[name] = await timed(() => $`node --import tsx ${path.join(ROOT, 'scripts/convert.ts')} ${input} -o ${out} -j ${j} --no-progress --validate-signatures=${sig} --no-index`.quiet());
    const size = fs.statSync(input).size;
    console.log(`${name.padEnd(14)} ${runs[name].toFixed(2)} s  ${Math.round(lines / runs[name])} lines/s  ${(size / 1e6 / runs[name]).toFixed(1)} MB/s`);
    return runs[name];
  };

  const gzipBefore = await gzip();
  await convert(false, 1);
  const sigOff = await convert(false, cores);
  const gzipSeconds = (gzipBefore + (await gzip())) / 2;
  console.log(`gzip -6        ${gzipSeconds.toFixed(2)} s  ${(bytes / 1e6 / gzipSeconds).toFixed(1)} MB/s (mean of a run before and after)`);

  const verifyBefore = rawVerifyRate(corpus);
  await convert(true, 1);
  const fullSeconds = await convert(true, cores);
  const verifyRate = (verifyBefore + rawVerifyRate(corpus)) / 2;
  console.log(`raw verify     ${Math.round(verifyRate)} /s on one core (tiny-secp256k1, mean of before and after)`);

  const merged = ensureMergedCorpus(corpus, 0.5, seed);
  const mergedLines = countLines(merged);
  const mergedSeconds = await convert(true, cores, merged, mergedLines, ' merged');

  const full = count / fullSeconds;
  console.log(`\ntarget: signature checks off, -j${cores}: ${(sigOff / gzipSeconds).toFixed(2)} x gzip -6 time (target <= 1.00) ${sigOff <= gzipSeconds ? 'MET' : 'MISSED'}`);
  console.log(`target: full validation, -j${cores}: ${Math.round(full)} events/s = ${((100 * full) / (cores * verifyRate)).toFixed(0)}% of ${cores} x raw verify (target >= 70%) ${full >= 0.7 * cores * verifyRate ? 'MET' : 'MISSED'}`);
  console.log(`merged dumps:  ${mergedLines - count} of ${mergedLines} lines are duplicates; full validation -j${cores} takes ${(mergedSeconds / fullSeconds).toFixed(2)} x the time of the corpus alone for ${(mergedLines / count).toFixed(2)} x the lines`);
  const perVcpu = Math.round(bytes / fullSeconds / cores);
  console.log(`plan: bytes_per_second_per_vcpu=${perVcpu} bytes_per_event=${Math.round(bytes / count)} (full validation; bytes per event of the corpus, for make plan's memory rule)`);
});


async function timed(run: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await run();
  return (performance.now() - t) / 1000;
}

function countLines(file: string): number {
  const bytes = fs.readFileSync(file);
  let n = 0;
  for (let at = bytes.indexOf(0x0a); at !== -1; at = bytes.indexOf(0x0a, at + 1)) n++;
  return n;
}

function rawVerifyRate(corpus: string): number {
  const sample = fs.readFileSync(corpus, 'utf8').split('\n', 2000).filter(Boolean).map((l) => JSON.parse(l));
  const items = sample.map((e) => [Buffer.from(e.id, 'hex'), e.pubkey, e.sig] as const);
  let n = 0;
  const t = performance.now();
  while (performance.now() - t < 3000) for (const [id, pubkey, sig] of items) verifySignature(id, pubkey, sig) && n++;
  return n / ((performance.now() - t) / 1000);
}
