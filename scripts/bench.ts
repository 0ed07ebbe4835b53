#!/usr/bin/env -S npx tsx
// The converter's benchmark: a seeded, signed corpus; convert with signature checks off and with
// both verifiers; gzip -6 of the same file as the yardstick; the CPU per event of the serial
// threads (main, and the index's) and the ceiling they put on any number of cores; an unsorted 900-day copy; the cost per billion events.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { ensureMergedCorpus, ensureSignedCorpus, ensureUnsortedCorpus } from '../lib/dev/bench-corpus.ts';
import { runScript } from '../lib/cli/run.ts';
import { ROOT } from '../lib/paths.ts';
import { loadPrices } from '../lib/deploy/cost.ts';
import { SETTINGS } from '../lib/deploy/settings.ts';
import { makeVerifier, type Verifier } from '../lib/nostr/verifier.ts';

interface Run { seconds: number; lines: number; mainUs: number; indexUs: number; bytesOut: number }

await runScript({
  command: 'npx tsx scripts/bench.ts',
  synopsis: '[--events N] [--seed S] [--dir DIR]',
  about: `
Generates (once, then cached in DIR) a corpus of N signed events from seed S (default 100000,
seed 1, DIR .bench), and the same events over 900 days, shuffled. Then prints, all from one run
so that the ratios hold on a noisy machine:
  - convert -j1 and -jN (N = CPUs) with --validate-signatures=false, and -jN with full
    validation by the native verifier and by the WASM one, without the index (make bench-index
    measures what the index adds); each with the main thread's CPU per event and the rate it caps;
    and -jN signature-off with the index on (the default), on the corpus and the unsorted one:
    the main thread's CPU per event then (its rows go from the writer threads to the index thread),
    and the index thread's CPU per event inserting (one thread: the other ceiling);
    and -jN signature-off again with --gzip zlib (what libdeflate, the default where it loads, gains)
  - gzip -6 over the same input, the reference for the signature-off target
  - the raw single-core Schnorr verify rate of each verifier
  - the corpus followed by half its lines again (merged dumps: a third are duplicates), and the
    unsorted 900-day corpus, both with full validation at -jN
  - the cost per billion fully validated events on the default instance type
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
  const unsorted = await ensureUnsortedCorpus(dir, count, seed);
  const bytes = fs.statSync(corpus).size;
  const [load1] = os.loadavg();
  console.log(`corpus: ${corpus}, ${count} events, ${(bytes / 1e6).toFixed(1)} MB, ${Math.round(bytes / count)} B/event; ${cores} CPUs; node ${process.version}; load average ${load1.toFixed(2)} at the start`);
  let native: Verifier | undefined;
  try {
    native = makeVerifier('native');
  } catch (err) {
    console.log(`native verifier unavailable (${(err as Error).message}): its runs are skipped`);
  }

  // References are measured right before and after the runs they judge, and averaged: the
  // machine is shared, so only ratios within the same minute mean much.
  const gzip = () => timed(() => $`gzip -6 -c ${corpus} > /dev/null`);
  const convert = async (label: string, args: string[], input = corpus, { index = false } = {}): Promise<Run> => {
    const out = path.join(dir, 'out');
    fs.rmSync(out, { recursive: true, force: true });
    let stdout = '';
    // node --import tsx runs the same code as npx tsx, without npx looking itself up (~0.8 s).
    const seconds = await timed(async () => {
      stdout = (await $`node --import tsx ${path.join(ROOT, 'scripts/convert.ts')} ${input} -o ${out} --no-progress ${index ? [] : ['--no-index']} ${args}`.quiet()).stdout;
    });
    const lines = Number(/lines read\s+([\d,]+)/.exec(stdout)![1].replace(/,/g, ''));
    const mainUs = Number(/main thread\s+([\d.]+) us/.exec(stdout)?.[1] ?? NaN);
    const indexUs = Number(/index thread\s+([\d.]+) us/.exec(stdout)?.[1] ?? NaN);
    const bytesOut = fs.readdirSync(out).filter((n) => n.endsWith('.pb.gz')).reduce((n, f) => n + fs.statSync(path.join(out, f)).size, 0);
    const size = fs.statSync(input).size;
    console.log(`${label.padEnd(22)} ${seconds.toFixed(2).padStart(6)} s  ${String(Math.round(lines / seconds)).padStart(7)} lines/s  ${(size / 1e6 / seconds).toFixed(1).padStart(5)} MB/s  main thread ${mainUs.toFixed(2)} us/line (ceiling ${Math.round(1e6 / mainUs).toLocaleString('en-US')} lines/s)${index ? `  index thread ${indexUs.toFixed(2)} us/line` : ''}  out ${Math.round(bytesOut / lines)} B/line`);
    return { seconds, lines, mainUs, indexUs, bytesOut };
  };

  const gzipBefore = await gzip();
  await convert('sig-off -j1', ['-j', '1', '--validate-signatures=false']);
  const sigOff = await convert(`sig-off -j${cores}`, ['-j', String(cores), '--validate-signatures=false']);
  // The members' gzip (lib/day-files/gzip.ts): what libdeflate gains over zlib, when the run above had it.
  // The index on (the default): its rows must not cost the main thread (lib/convert/writer-thread.ts).
  const sigOffIndex = await convert(`sig-off -j${cores} index`, ['-j', String(cores), '--validate-signatures=false'], corpus, { index: true });
  const unsortedIndex = await convert(`sig-off -j${cores} 900d index`, ['-j', String(cores), '--validate-signatures=false'], unsorted, { index: true });
  const sigOffZlib = await convert(`sig-off -j${cores} zlib`, ['-j', String(cores), '--validate-signatures=false', '--gzip', 'zlib']);
  const gzipSeconds = (gzipBefore + (await gzip())) / 2;
  console.log(`${'gzip -6'.padEnd(22)} ${gzipSeconds.toFixed(2).padStart(6)} s  ${(bytes / 1e6 / gzipSeconds).toFixed(1)} MB/s (mean of a run before and after)`);

  const rates = (v: Verifier | undefined) => (v ? rawVerifyRate(corpus, v) : NaN);
  const wasm = makeVerifier('wasm');
  const before = { native: rates(native), wasm: rates(wasm) };
  const full = native ? await convert(`full native -j${cores}`, ['-j', String(cores), '--verifier', 'native']) : undefined;
  const fullWasm = await convert(`full wasm -j${cores}`, ['-j', String(cores), '--verifier', 'wasm']);
  const verify = { native: (before.native + rates(native)) / 2, wasm: (before.wasm + rates(wasm)) / 2 };
  console.log(`raw verify, one core: native ${Math.round(verify.native)}/s, wasm ${Math.round(verify.wasm)}/s (${(verify.native / verify.wasm).toFixed(1)} x; mean of before and after)`);

  const verifier = native ? 'native' : 'wasm';
  const fullRun = full ?? fullWasm;
  const merged = ensureMergedCorpus(corpus, 0.5, seed);
  const mergedRun = await convert(`full ${verifier} -j${cores} merged`, ['-j', String(cores), '--verifier', verifier], merged);
  const unsortedRun = await convert(`full ${verifier} -j${cores} 900 days`, ['-j', String(cores), '--verifier', verifier], unsorted);
  const fullAgain = await convert(`full ${verifier} -j${cores} again`, ['-j', String(cores), '--verifier', verifier]);

  const rate = (r: Run) => r.lines / r.seconds;
  const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');
  console.log('');
  if (full) console.log(`target: full validation, native, -j${cores}: ${(rate(full) / rate(sigOff)).toFixed(2)} x the events/s of signature checks off (target >= 0.60) ${verdict(rate(full) >= 0.6 * rate(sigOff))}; with wasm ${(rate(fullWasm) / rate(sigOff)).toFixed(2)} x`);
  console.log(`target: signature checks off, -j${cores}: ${(sigOff.seconds / gzipSeconds).toFixed(2)} x gzip -6 time (target <= 0.80) ${verdict(sigOff.seconds <= 0.8 * gzipSeconds)}; with --gzip zlib ${(sigOffZlib.seconds / gzipSeconds).toFixed(2)} x (${(sigOff.seconds / sigOffZlib.seconds).toFixed(2)} x its time, ${(sigOff.bytesOut / sigOffZlib.bytesOut).toFixed(3)} x its output)`);
  const mainWorst = Math.max(sigOff.mainUs, fullRun.mainUs, unsortedRun.mainUs, sigOffIndex.mainUs, unsortedIndex.mainUs);
  console.log(`target: main thread CPU per event: ${sigOff.mainUs.toFixed(2)} us (sig-off), ${fullRun.mainUs.toFixed(2)} us (full), ${unsortedRun.mainUs.toFixed(2)} us (900 days), with the index ${sigOffIndex.mainUs.toFixed(2)} us (sig-off) and ${unsortedIndex.mainUs.toFixed(2)} us (sig-off, 900 days); at most ${mainWorst.toFixed(2)} us = a ceiling of ${Math.round(1e6 / mainWorst).toLocaleString('en-US')} events/s (target <= 1.50 us) ${verdict(mainWorst <= 1.5)}`);
  // The index's thread inserts every stored event, one thread whatever the cores: the other serial part (the index is on by default).
  const indexWorst = Math.max(sigOffIndex.indexUs, unsortedIndex.indexUs);
  const serialWorst = Math.max(mainWorst, indexWorst);
  console.log(`serial parts with the index on (the default): the index thread ${sigOffIndex.indexUs.toFixed(2)} us (sorted) and ${unsortedIndex.indexUs.toFixed(2)} us (900 days) of CPU per event inserting = a ceiling of ${Math.round(1e6 / indexWorst).toLocaleString('en-US')} events/s; with the main thread's, ${Math.round(1e6 / serialWorst).toLocaleString('en-US')} events/s (--no-index: ${Math.round(1e6 / mainWorst).toLocaleString('en-US')})`);
  const perEvent = (r: Run) => r.seconds / r.lines;
  const sortedPerEvent = (perEvent(fullRun) + perEvent(fullAgain)) / 2;
  const timeRatio = perEvent(unsortedRun) / sortedPerEvent;
  const sizeRatio = unsortedRun.bytesOut / unsortedRun.lines / (fullRun.bytesOut / fullRun.lines);
  console.log(`target: unsorted 900-day corpus: ${timeRatio.toFixed(2)} x the time per event of the corpus (mean of a run before and after), ${sizeRatio.toFixed(2)} x its output per event (target <= 1.20 each) ${verdict(timeRatio <= 1.2 && sizeRatio <= 1.2)}`);
  console.log(`merged dumps: ${mergedRun.lines - count} of ${mergedRun.lines} lines are duplicates; full validation -j${cores} takes ${(mergedRun.seconds / fullRun.seconds).toFixed(2)} x the time of the corpus alone for ${(mergedRun.lines / count).toFixed(2)} x the lines`);

  const perVcpuBytes = Math.round(bytes / fullRun.seconds / cores);
  const perVcpuEvents = rate(fullRun) / cores;
  const prices = loadPrices();
  const type = SETTINGS.instanceType.default!;
  const instance = prices.instances[type];
  const ceiling = 1e6 / serialWorst;
  const eventsPerSecond = Math.min(perVcpuEvents * instance.vcpu, ceiling);
  const perBillion = (hourly: number) => (hourly / (eventsPerSecond * 3600)) * 1e9;
  console.log(`cost per billion fully validated events (${verifier}) on ${type} (${instance.vcpu} vCPUs, ${Math.round(eventsPerSecond).toLocaleString('en-US')} events/s = min(${Math.round(perVcpuEvents).toLocaleString('en-US')}/s per vCPU x ${instance.vcpu}, serial ceiling), prices of ${prices.asOf}): on-demand $${perBillion(instance.onDemandHourly).toFixed(2)}, spot ~$${perBillion(instance.onDemandHourly * prices.spotFractionOfOnDemand).toFixed(2)} (instance only)`);
  console.log(`plan: bytes_per_second_per_vcpu=${perVcpuBytes} serial_bytes_per_second=${Math.round(ceiling * bytes / count)} bytes_per_event=${Math.round(bytes / count)} (full validation, ${verifier}; the ceiling from the main and index threads' CPU per event; bytes per event of the corpus, for make plan's memory rule)`);
});

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await run();
  return (performance.now() - t) / 1000;
}

function rawVerifyRate(corpus: string, verifier: Verifier): number {
  const sample = fs.readFileSync(corpus, 'utf8').split('\n', 2000).filter(Boolean).map((l) => JSON.parse(l));
  const items = sample.map((e) => [Buffer.from(e.id, 'hex'), Buffer.from(e.pubkey, 'hex'), Buffer.from(e.sig, 'hex')] as const);
  let n = 0;
  const t = performance.now();
  while (performance.now() - t < 2000) for (const [id, pubkey, sig] of items) verifier.verify(id, pubkey, sig) && n++;
  return n / ((performance.now() - t) / 1000);
}
