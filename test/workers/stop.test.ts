// Stopping worker threads (lib/workers/stop.ts): asked, a thread finishes what is in flight and
// exits on its own; terminated only after the grace period. The real threads that load native
// libraries at start (compressor, validating worker) are stopped while still loading.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import type { Worker } from 'node:worker_threads';
import { WriterThreads } from '../../lib/convert/writer-threads.ts';
import { libModule } from '../../lib/paths.ts';
import { startWorker } from '../../lib/workers/start.ts';
import { stopWorker } from '../../lib/workers/stop.ts';
import { convertInto, randomSample, tempDir, writeJsonl } from '../helpers/index.ts';

const FIXTURE = new URL('../fixtures/stop-worker.ts', import.meta.url);
const fixture = (data: unknown) => startWorker(FIXTURE, data);

const exitCode = (w: Worker) => new Promise<number>((resolve) => w.once('exit', resolve));

test('a thread asked to stop finishes the work in flight, then exits on its own with code 0', async () => {
  const done = new Int32Array(new SharedArrayBuffer(4));
  const w = fixture({ mode: 'finish-in-flight', done });
  const code = exitCode(w);
  await new Promise((resolve) => w.once('message', resolve));
  assert.equal(await stopWorker(w), 'exited');
  assert.equal(done[0], 1, 'the work in flight finished before the thread ended');
  assert.equal(await code, 0);
});

test('a thread that does not stop is terminated after the grace period', async () => {
  const w = fixture({ mode: 'ignore' });
  const code = exitCode(w);
  await new Promise((resolve) => w.once('message', resolve));
  const started = Date.now();
  assert.equal(await stopWorker(w, 300), 'terminated');
  assert.ok(Date.now() - started >= 290);
  assert.equal(await code, 1);
});

test('a thread that has exited already is stopped at once', async () => {
  const w = fixture({ mode: 'exit-now' });
  await exitCode(w);
  assert.equal(await stopWorker(w, 60_000), 'exited');
});

test('the compressor and validating threads stopped while loading their native libraries exit on their own, every time', async () => {
  // worker.terminate() here aborted the process now and then: koffi's start-up fails fatally in a terminating thread.
  const threads = [
    { script: libModule('convert/compressor.ts'), data: { gzip: 'auto' } },
    { script: libModule('convert/worker.ts'), data: { validateIds: true, validateSignatures: true, verifier: 'native' } },
  ];
  for (let round = 0; round < 10; round++) {
    const results = await Promise.all(threads.map(async ({ script, data }) => {
      const w = startWorker(script, data);
      const code = exitCode(w);
      return [await stopWorker(w), await code];
    }));
    assert.deepEqual(results, [['exited', 0], ['exited', 0]], `round ${round}`);
  }
});

test('writer threads stopped while reading a large folder end their reading and exit on their own', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  await convertInto(out, writeJsonl(path.join(dir, 'days.jsonl'), randomSample(6000, 61, 400)), { index: false });
  assert.ok(fs.readdirSync(out).filter((n) => n.endsWith('.pb.gz')).length > 300);
  const writers = new WriterThreads(2, { dir: out, compressionLevel: 6, gzip: 'zlib', pendingBudget: 1 << 20, index: false, memberData: false, shareStored: false }, () => {}, () => {});
  const stopped = await writers.terminate();
  assert.deepEqual(stopped, ['exited', 'exited', 'exited', 'exited'], 'two writer threads, two compressor threads');
});
