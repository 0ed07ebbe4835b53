#!/usr/bin/env -S npx tsx
// Start-up of a lookup by id, the command every query pays: the installed `proton-beam query`
// (a cached bundle) against `npx tsx scripts/query.ts` and `node --import tsx scripts/query.ts`,
// with bare `node` as the floor. Runs are alternated and summarised by their median.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runScript } from '../lib/cli/run.ts';
import { ROOT } from '../lib/paths.ts';

await runScript({
  command: 'npx tsx scripts/bench-startup.ts',
  synopsis: '[--runs N]',
  about: 'Times a lookup by id on the shipped sample through each way of starting query.ts (wall and CPU, median of N).',
  flags: {
    runs: { kind: 'int', default: 15, min: 3, max: 1000, help: 'runs of each command' },
  },
}, async ({ flags }) => {
  const dir = fs.mkdtempSync(path.join(ROOT, '.bench-startup-'));
  try {
    const converted = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'proton-beam.mjs'), 'convert', path.join(ROOT, 'sample', 'events.jsonl'), '-o', dir, '--no-progress'], { cwd: ROOT });
    if (converted.status !== 0) throw new Error(`convert failed: ${converted.stderr}`);
    const id = JSON.parse(fs.readFileSync(path.join(ROOT, 'sample', 'events.jsonl'), 'utf8').split('\n')[0]).id as string;
    const commands: Record<string, string[]> = {
      'node -e "" (floor)': [process.execPath, '-e', ''],
      'proton-beam query': [process.execPath, path.join(ROOT, 'scripts', 'proton-beam.mjs'), 'query', dir, '--id', id],
      'node --import tsx query.ts': [process.execPath, '--import', 'tsx', path.join(ROOT, 'scripts', 'query.ts'), dir, '--id', id],
      'npx tsx query.ts': ['npx', 'tsx', path.join(ROOT, 'scripts', 'query.ts'), dir, '--id', id],
    };
    const times: Record<string, { wall: number[]; cpu: number[] }> = {};
    for (const name of Object.keys(commands)) times[name] = { wall: [], cpu: [] };
    spawnSync(commands['proton-beam query'][0], commands['proton-beam query'].slice(1), { cwd: ROOT }); // builds the bundle once
    for (let run = 0; run < flags.runs; run++) {
      for (const [name, [program, ...args]] of Object.entries(commands)) {
        const started = performance.now();
        const r = spawnSync('/usr/bin/time', ['-f', '%U %S', program, ...args], { cwd: ROOT, encoding: 'utf8' });
        const wall = performance.now() - started;
        if (r.status !== 0) throw new Error(`${name} failed: ${r.stderr}`);
        const [user, sys] = r.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
        times[name].wall.push(wall);
        times[name].cpu.push((user + sys) * 1000);
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const floor = median(times['node -e "" (floor)'].wall);
    console.log(`start-up of a lookup by id, median of ${flags.runs} alternated runs (${new Date().toISOString()})`);
    for (const [name, t] of Object.entries(times)) {
      console.log(`  ${name.padEnd(28)} wall ${median(t.wall).toFixed(0).padStart(5)} ms (${(median(t.wall) - floor).toFixed(0).padStart(5)} ms above node)  CPU ${median(t.cpu).toFixed(0).padStart(5)} ms`);
    }
    const ours = median(times['proton-beam query'].wall);
    console.log(`target: proton-beam query starts in under 150 ms: ${ours.toFixed(0)} ms ${ours < 150 ? 'MET' : 'MISSED'}; ${(median(times['npx tsx query.ts'].wall) / ours).toFixed(1)} x faster than npx tsx`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
