#!/usr/bin/env -S npx tsx
// How the converter's index thread's cost per row grows with the index: random ids, packed as
// writer threads send them, inserted by the same BulkLoader in sorted transactions of --batch rows
// into a new index.db opened as convert opens it; timed per --every rows (wall and this thread's CPU).
import fs from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { runScript } from '../lib/cli/run.ts';
import { openIndexForWrite } from '../lib/index/db.ts';
import { BulkLoader, chunkOfPacked } from '../lib/index/loader.ts';
import { threadCpuSeconds } from '../lib/workers/thread-cpu.ts';

const MEMBER_ROWS = 600; // a ~1 MB member of the bench corpus

await runScript({
  command: 'npx tsx scripts/bench-index-growth.ts',
  synopsis: '[--rows N] [--batch B] [--every E] [--fresh] [--dir DIR]',
  about: `
Inserts N random rows (default 5,000,000) into a new index.db in DIR (default the system's temp
folder; the file is removed at the end), B rows a transaction (default 262,144, what convert's
index thread uses), and prints the wall and CPU time per row of every E rows (default 500,000)
with the file's size: whether the cost per row stays flat as the index grows. --fresh opens the
file as index.ts rebuild does (no journal, no sync; it commits a part of up to 100,000 rows at a
time: --batch 100000).
`,
  flags: {
    rows: { kind: 'int', default: 5_000_000, min: 1000, max: 2_000_000_000, help: 'rows to insert' },
    batch: { kind: 'int', value: 'B', default: 262_144, min: 1000, max: 1_000_000, help: 'rows a transaction' },
    every: { kind: 'int', value: 'E', default: 500_000, min: 1000, max: 100_000_000, help: 'rows per line printed' },
    fresh: { kind: 'switch', help: 'open as a rebuild does (no journal, no sync)' },
    dir: { kind: 'string', value: 'DIR', default: os.tmpdir(), defaultText: 'the temp folder', help: 'where the index is written' },
  },
}, async ({ flags }) => {
  const file = path.join(flags.dir, `bench-index-growth-${process.pid}.db`);
  const { db } = openIndexForWrite(file, flags.fresh);
  try {
    const loader = new BulkLoader(db, flags.batch);
    console.log(`${flags.rows.toLocaleString('en-US')} random rows into ${file}, ${flags.batch.toLocaleString('en-US')} a transaction${flags.fresh ? ', opened as a rebuild does' : ''}; load average ${os.loadavg()[0].toFixed(2)}`);
    let done = 0;
    let lineStart = 0;
    let wallAt = performance.now();
    let cpuAt = threadCpuSeconds();
    while (done < flags.rows) {
      const n = Math.min(MEMBER_ROWS, flags.rows - done);
      loader.add(chunkOfPacked(`2025_01_${String(1 + ((done / MEMBER_ROWS) % 28)).padStart(2, '0')}.pb.gz`, done * 700, {
        count: n, ids: randomBytes(32 * n), pubkeys: randomBytes(32 * n), kinds: new Int32Array(n).fill(1),
        createdAt: new Float64Array(n).fill(1.7e9), offsetsInMember: Float64Array.from({ length: n }, (_, i) => i * 700),
      }));
      done += n;
      if (loader.full || done === flags.rows) await loader.flush();
      if (done - lineStart >= flags.every || done === flags.rows) {
        const rows = done - lineStart;
        const wall = (performance.now() - wallAt) / 1000;
        const cpu = threadCpuSeconds() - cpuAt;
        console.log(`${(done / 1e6).toFixed(2).padStart(7)} M rows: the last ${rows.toLocaleString('en-US')} at ${(wall * 1e6 / rows).toFixed(2)} us/row wall, ${(cpu * 1e6 / rows).toFixed(2)} us/row CPU; index ${(fs.statSync(file).size / 1e6).toFixed(0)} MB`);
        lineStart = done;
        wallAt = performance.now();
        cpuAt = threadCpuSeconds();
      }
    }
  } finally {
    db.close();
    fs.rmSync(file, { force: true });
  }
});
