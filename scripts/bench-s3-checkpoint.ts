#!/usr/bin/env -S npx tsx
// Checkpoints in S3, against a local s3rver: what they cost a run with --s3-output, what a resume
// on an empty machine costs, and the id list against loading the ids from the parts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { createS3Client } from '../lib/s3/client.ts';
import { ensureSignedCorpus } from '../lib/dev/bench-corpus.ts';
import { startLocalS3 } from '../lib/dev/local-s3.ts';
import { runScript } from '../lib/cli/run.ts';
import { ROOT } from '../lib/paths.ts';
import { resolveVerifier } from '../lib/nostr/verifier.ts';
import { CheckpointStore } from '../lib/checkpoint/s3-store.ts';
import { idsOfRange, loadStoredIds, readS3Checkpoint } from '../lib/checkpoint/s3-checkpoint.ts';
import { ID_RECORD_BYTES } from '../lib/checkpoint/id-records.ts';

interface Run { seconds: number; cpu: number; stdout: string; stderr: string; killed: boolean }

/**
 * CPU seconds used so far by this process (s3rver runs in it) and by its children that have been
 * waited for (the converter, through zx's shell): the machine is shared, so wall time carries the
 * other sessions' load, CPU time much less. Children from /proc/self/stat (cutime + cstime, in
 * USER_HZ, 100 on Linux); NaN where there is no /proc.
 */
function cpuSeconds(): number {
  const self = (process.cpuUsage().user + process.cpuUsage().system) / 1e6;
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3, the state
    return self + (Number(f[13]) + Number(f[14])) / 100;
  } catch {
    return NaN;
  }
}

await runScript({
  command: 'npx tsx scripts/bench-s3-checkpoint.ts',
  synopsis: '[--events N] [--seed S] [--dir DIR]',
  about: `
Converts the seeded, signed corpus of make bench (full validation, the index on, -jN) with
--s3-output to a local s3rver on 127.0.0.1 and prints, from one run so that ratios hold:
  - the upload-at-the-end run (--checkpoint-every off), the reference, alternated with the default
    in four rounds (the order swapped each round), and once more at the end; wall and CPU time
    (of the converter and of s3rver, which runs in this process)
  - the default --checkpoint-every 5m (a run this short takes no checkpoint: its end uploads the
    day files whole, as the run without checkpoints does), and a checkpoint every 2 s: the cost
    per checkpoint (parts, id list, log, record uploaded and checked; at the end, the copies of
    the committed parts of 5 MiB or more), projected to the 5-minute default (target <= 1.05 x)
  - kill -9 after the checkpoint at 60 %, then the resume in a new empty folder (parts of the
    earlier run downloaded, index rebuilt), against the clean run
  - the ids of the run so far from the id lists against from the parts (download and decode)
`,
  flags: {
    events: { kind: 'int', default: 100_000, min: 20_000, max: 10_000_000, help: 'events in the corpus' },
    seed: { kind: 'int', value: 'S', default: 1, min: 0, max: 2 ** 31, help: 'seed of the corpus' },
    dir: { kind: 'string', value: 'DIR', default: path.join(ROOT, '.bench'), defaultText: '.bench', help: 'where the corpus is cached' },
  },
}, async ({ flags }) => {
  const dir = path.resolve(flags.dir);
  const cores = os.availableParallelism();
  const corpus = await ensureSignedCorpus(dir, flags.events, flags.seed);
  const bytes = fs.statSync(corpus).size;
  const verifier = resolveVerifier('auto').kind; // native when the library loads
  const s3dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-bench-s3-'));
  const local = await startLocalS3(s3dir, ['bench']);
  const client = createS3Client({ endpoint: local.endpoint, forcePathStyle: true, credentials: { accessKeyId: local.env.AWS_ACCESS_KEY_ID, secretAccessKey: local.env.AWS_SECRET_ACCESS_KEY } });
  console.log(`corpus: ${corpus}, ${flags.events} events, ${(bytes / 1e6).toFixed(1)} MB; ${cores} CPUs; full validation (${verifier}), index on, -j${cores}; s3rver on 127.0.0.1; load average ${os.loadavg()[0].toFixed(2)} at the start`);
  let n = 0;
  const convert = async (label: string, args: string[], o: { failpoint?: string; out?: string; prefix?: string } = {}): Promise<Run & { out: string; prefix: string }> => {
    const out = o.out ?? fs.mkdtempSync(path.join(dir, 'out-s3-'));
    const prefix = o.prefix ?? `run${++n}`;
    const env = { ...process.env, ...local.env, ...(o.failpoint ? { PROTON_BEAM_FAILPOINT: o.failpoint } : {}) };
    const t = performance.now();
    const cpu0 = cpuSeconds();
    const r = await $({ env, nothrow: true })`node --import tsx ${path.join(ROOT, 'scripts/convert.ts')} ${corpus} -o ${out} --no-progress -j ${cores} --verifier ${verifier} --s3-output s3://bench/${prefix}/ ${args}`.quiet();
    const seconds = (performance.now() - t) / 1000;
    const cpu = cpuSeconds() - cpu0;
    const killed = r.signal === 'SIGKILL';
    if (!killed && r.exitCode !== 0) throw new Error(`${label}: exit ${r.exitCode}: ${r.stderr}`);
    const waited = /checkpoints\s+([\d,]+)\s+\(([\d.]+) s of waiting/.exec(r.stdout);
    console.log(`${label.padEnd(52)} ${seconds.toFixed(2).padStart(6)} s, CPU ${cpu.toFixed(2).padStart(6)} s${killed ? '  (killed at its failpoint)' : ''}${waited ? `  ${waited[1]} checkpoints, ${waited[2]} s of waiting` : ''}`);
    return { seconds, cpu, stdout: r.stdout, stderr: r.stderr, killed, out, prefix };
  };
  try {
    // The machine is shared: the default and the reference alternate, four rounds, the first of
    // each pair swapped every round (a load that grows or falls during the bench then weighs on
    // both alike), and the median of the four ratios is the figure; CPU time beside wall time.
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    const cleans: number[] = [];
    let byDefault!: Run;
    for (let round = 1; round <= 4; round++) {
      const runOff = () => convert(`round ${round}: --checkpoint-every off (upload at the end)`, ['--checkpoint-every', 'off']);
      const runDefault = () => convert(`round ${round}: --checkpoint-every 5m (the default)`, []);
      let off: Run;
      if (round % 2 === 1) {
        off = await runOff();
        byDefault = await runDefault();
      } else {
        byDefault = await runDefault();
        off = await runOff();
      }
      ratios.push(byDefault.seconds / off.seconds);
      cpuRatios.push(byDefault.cpu / off.cpu);
      cleans.push(off.seconds);
    }
    const clean1 = { seconds: cleans.at(-1)! };
    const every2s = await convert('--checkpoint-every 2s', ['--checkpoint-every', '2s']);
    const at60 = Math.floor(bytes * 0.6);
    const killed = await convert('killed after the checkpoint at 60 %', ['--checkpoint-every', `${at60}b`], { failpoint: 'checkpoint-remote-written:1' });
    if (!killed.killed) throw new Error('the run was not killed at its failpoint');

    // The ids of the run so far: from the id lists, or from the parts (download, then decode).
    const store = new CheckpointStore(client, `s3://bench/${killed.prefix}/`);
    const read = await readS3Checkpoint(store);
    if (!read || read === 'damaged') throw new Error(`no usable record after the kill: ${String(read)}`);
    const record = read;
    let t = performance.now();
    let fromList = 0;
    for await (const records of loadStoredIds(store, record)) fromList += records.length / ID_RECORD_BYTES;
    const listSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    let fromParts = 0;
    const tmp = path.join(dir, 'part.tmp');
    for (const p of record.parts) {
      fs.writeFileSync(tmp, await store.getChecked(p.key, p));
      fromParts += (await idsOfRange(tmp, 0, p.bytes)).length / 32;
    }
    fs.rmSync(tmp, { force: true });
    const partsSeconds = (performance.now() - t) / 1000;
    const idBytes = (record.idParts ?? []).reduce((a, p) => a + p.bytes, 0);
    const partBytes = record.parts.reduce((a, p) => a + p.bytes, 0);

    const resumed = await convert('resumed in a new empty folder', [], { prefix: killed.prefix });
    const clean2 = await convert('--checkpoint-every off (upload at the end)', ['--checkpoint-every', 'off']);
    const clean = (clean1.seconds + clean2.seconds) / 2;

    const waited = /checkpoints\s+([\d,]+)\s+\(([\d.]+) s of waiting/.exec(every2s.stdout);
    const count = Number(waited?.[1].replace(/,/g, '') ?? NaN);
    const perCheckpoint = waited ? Number(waited[2]) / count : NaN;
    const perCheckpointInAll = (every2s.seconds - byDefault.seconds) / Math.max(1, count - 1);
    const medianOf = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
    };
    const median = medianOf(ratios);
    const projected = median + Math.max(perCheckpoint, perCheckpointInAll) / 300;
    const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');
    console.log('');
    console.log(`checkpoints in S3: every 2 s, ${count} of them made reading wait ${perCheckpoint.toFixed(3)} s each (uploads included); the run took ${(every2s.seconds / clean).toFixed(2)} x the upload-at-the-end run, ${perCheckpointInAll.toFixed(3)} s per extra checkpoint in all`);
    console.log(`target: --s3-output with checkpoints at the default 5 min: measured ${median.toFixed(2)} x the upload-at-the-end run before it (median of ${ratios.map((r) => r.toFixed(2)).join(', ')}; CPU time ${medianOf(cpuRatios).toFixed(2)} x, median of ${cpuRatios.map((r) => r.toFixed(2)).join(', ')}; a run this short takes no checkpoint, its end uploads the day files whole); for long runs ${projected.toFixed(3)} x (that, plus the larger per-checkpoint cost / 300 s; target <= 1.05) ${verdict(projected <= 1.05)}`);
    console.log(`resume on an empty machine after a kill at 60 %: ${(resumed.seconds / clean).toFixed(2)} x the clean run (reads 40 % of the input, downloads the earlier parts, rebuilds the index)`);
    console.log(`load average ${os.loadavg()[0].toFixed(2)} at the end`);
    console.log(`stored ids at 60 % (${fromList} ids): id lists ${(idBytes / 1e6).toFixed(2)} MB, loaded in ${listSeconds.toFixed(2)} s; from the parts ${(partBytes / 1e6).toFixed(2)} MB downloaded and decoded in ${partsSeconds.toFixed(2)} s (${fromParts} ids): ${(partBytes / Math.max(1, idBytes)).toFixed(1)} x the bytes, ${(partsSeconds / Math.max(1e-6, listSeconds)).toFixed(1)} x the time`);
  } finally {
    client.destroy();
    local.server.httpServer?.closeAllConnections();
    await local.close();
    fs.rmSync(s3dir, { recursive: true, force: true });
    for (const name of fs.readdirSync(dir)) if (name.startsWith('out-s3-')) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  }
});
