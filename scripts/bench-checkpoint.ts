#!/usr/bin/env -S npx tsx
// Checkpoints' benchmark: what they cost a run, and what they save the rerun after a kill.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { ensureSignedCorpus } from '../lib/dev/bench-corpus.ts';
import { runScript } from '../lib/cli/run.ts';
import { ROOT } from '../lib/paths.ts';
import { resolveVerifier } from '../lib/nostr/verifier.ts';

/** Wall time, and CPU time (user + system, all threads) of the converter process. */
interface Run { seconds: number; cpu: number; stdout: string; killed: boolean }

await runScript({
  command: 'npx tsx scripts/bench-checkpoint.ts',
  synopsis: '[--events N] [--seed S] [--dir DIR]',
  about: `
Converts the seeded, signed corpus of make bench (full validation, the index on, -jN) and
prints, from one run so that the ratios hold on a noisy machine:
  - a clean run without checkpoints (the reference: mean of one before and one after the rest)
  - the same with the default --checkpoint-every 5m, and with a checkpoint every 2 s: the time
    each checkpoint makes reading wait, and the cost projected to the 5-minute default
  - kill -9 right after a checkpoint at 60 % of the input (the failpoint checkpoint-written),
    then the rerun, which resumes from it (target <= 0.5 x the clean run); and the same rerun
    with --restart, which reads the whole input again (what a rerun cost before checkpoints)
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
  const out = path.join(dir, 'out-checkpoint');
  console.log(`corpus: ${corpus}, ${flags.events} events, ${(bytes / 1e6).toFixed(1)} MB; ${cores} CPUs; full validation (${verifier}), index on, -j${cores}; load average ${os.loadavg()[0].toFixed(2)} at the start`);

  const convert = async (label: string, args: string[], o: { fresh?: boolean; failpoint?: string } = {}): Promise<Run> => {
    if (o.fresh ?? true) fs.rmSync(out, { recursive: true, force: true });
    const env = { ...process.env, ...(o.failpoint ? { PROTON_BEAM_FAILPOINT: o.failpoint } : {}) };
    const times = path.join(dir, 'time.txt');
    const t = performance.now();
    // GNU time reports the CPU the converter used: steadier than wall time on a shared machine.
    const r = await $({ env, nothrow: true })`/usr/bin/time -q -f ${'%U %S'} -o ${times} node --import tsx ${path.join(ROOT, 'scripts/convert.ts')} ${corpus} -o ${out} --no-progress -j ${cores} --verifier ${verifier} ${args}`.quiet();
    const seconds = (performance.now() - t) / 1000;
    const [user, system] = fs.readFileSync(times, 'utf8').trim().split('\n').at(-1)!.split(' ').map(Number);
    const cpu = user + system;
    const killed = r.exitCode === 137 || r.signal === 'SIGKILL' || /Killed|signal 9/.test(fs.readFileSync(times, 'utf8'));
    if (!killed && r.exitCode !== 0) throw new Error(`${label}: exit ${r.exitCode}: ${r.stderr}`);
    const waited = /checkpoints\s+([\d,]+)\s+\(([\d.]+) s of waiting/.exec(r.stdout);
    console.log(`${label.padEnd(40)} ${seconds.toFixed(2).padStart(6)} s wall ${cpu.toFixed(2).padStart(6)} s CPU${killed ? '  (killed at its failpoint)' : ''}${waited ? `  ${waited[1]} checkpoints, ${waited[2]} s of waiting` : ''}`);
    return { seconds, cpu, stdout: r.stdout, killed };
  };
  const stored = (r: Run) => /^\s+stored\s+([\d,]+)/m.exec(r.stdout)?.[1];

  // The machine is shared: each rerun is judged against the clean run right before it, in three
  // rounds, and the median of the three ratios is the figure.
  const at60 = Math.floor(bytes * 0.6);
  const killAt60 = async () => {
    const r = await convert('killed after the checkpoint at 60 %', ['--checkpoint-every', `${at60}b`], { failpoint: 'checkpoint-written:1' });
    if (!r.killed) throw new Error('the run was not killed at its failpoint');
  };
  const ratios: number[] = [];
  const cpuRatios: number[] = [];
  const cleans: number[] = [];
  let resumedStored: string | undefined;
  let cleanStored: string | undefined;
  for (let round = 1; round <= 3; round++) {
    const clean = await convert(`round ${round}: clean, --checkpoint-every off`, ['--checkpoint-every', 'off']);
    await killAt60();
    const rerun = await convert(`round ${round}: rerun (resumes at 60 %)`, [], { fresh: false });
    ratios.push(rerun.seconds / clean.seconds);
    cpuRatios.push(rerun.cpu / clean.cpu);
    cleans.push(clean.seconds);
    cleanStored = stored(clean);
    resumedStored = stored(rerun);
    if (resumedStored !== cleanStored) throw new Error(`the resumed run stored ${resumedStored} events, the clean one ${cleanStored}`);
  }
  await killAt60();
  const restart = await convert('rerun with --restart (reads it all)', ['--restart'], { fresh: false });
  const cleanForCost = await convert('clean, --checkpoint-every off', ['--checkpoint-every', 'off']);
  const byDefault = await convert('--checkpoint-every 5m (the default)', []);
  const every2s = await convert('--checkpoint-every 2s', ['--checkpoint-every', '2s']);
  const cleanAfter = await convert('clean, --checkpoint-every off', ['--checkpoint-every', 'off']);
  const clean = (cleanForCost.seconds + cleanAfter.seconds) / 2;
  const median = [...ratios].sort((a, b) => a - b)[1];
  const cpuMedian = [...cpuRatios].sort((a, b) => a - b)[1];

  const waited = /checkpoints\s+([\d,]+)\s+\(([\d.]+) s of waiting/.exec(every2s.stdout);
  const n = Number(waited?.[1].replace(/,/g, '') ?? NaN);
  const perCheckpoint = waited ? Number(waited[2]) / n : NaN;
  const perCheckpointInAll = (every2s.seconds - clean) / n;
  const projected = 1 + Math.max(perCheckpoint, perCheckpointInAll) / 300;
  const verdict = (ok: boolean) => (ok ? 'MET' : 'MISSED');
  console.log('');
  console.log(`target: rerun after a kill at 60 %: ${median.toFixed(2)} x the wall time of the clean run before it (median of ${ratios.map((r) => r.toFixed(2)).join(', ')}), ${cpuMedian.toFixed(2)} x its CPU (median of ${cpuRatios.map((r) => r.toFixed(2)).join(', ')}) (target <= 0.50) ${verdict(median <= 0.5)} in wall time, ${verdict(cpuMedian <= 0.5)} in CPU; a rerun with --restart (the whole input again): ${(restart.seconds / cleans[2]).toFixed(2)} x wall`);
  console.log(`checkpoints: every 2 s, ${n} of them made reading wait ${perCheckpoint.toFixed(3)} s each (the run took ${(every2s.seconds / clean).toFixed(2)} x a clean one, ${perCheckpointInAll.toFixed(3)} s per checkpoint in all)`);
  console.log(`target: checkpoints at the default 5 min: measured ${(byDefault.seconds / clean).toFixed(2)} x a clean run (a run this short takes none); for long runs ${projected.toFixed(4)} x (the larger per-checkpoint cost above / 300 s; target <= 1.05) ${verdict(projected <= 1.05)}`);
});
