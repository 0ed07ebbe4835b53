// The CPU of one thread (lib/workers/thread-cpu.ts), as the converter's summary reports it for its
// serial threads: a busy worker's own figure, not the process's, and the idle main thread's apart.
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';
import { startWorker } from '../../lib/workers/start.ts';
import { threadCpuSeconds } from '../../lib/workers/thread-cpu.ts';
import { convertOk, SHIPPED_SAMPLE, tempDir } from '../helpers/common.ts';

test('a worker spinning for 600 ms counts about that much of its own CPU, while the waiting main thread counts little', async () => {
  const mainBefore = threadCpuSeconds();
  const worker = startWorker(new URL('../fixtures/cpu-worker.ts', import.meta.url), { ms: 600 });
  const { cpu } = await new Promise<{ cpu: number }>((resolve, reject) => worker.once('message', resolve).once('error', reject));
  const main = threadCpuSeconds() - mainBefore;
  await worker.terminate();
  assert.ok(cpu >= 0.3 && cpu <= 0.7, `the worker's own CPU: ${cpu} s`); // less than 0.6 s when the machine is shared
  assert.ok(main < cpu, `the main thread's ${main} s (starting the worker), below the worker's ${cpu} s`);
});

test('the summary gives the index thread\'s CPU per line beside the main thread\'s, and none without the index', () => {
  const dir = tempDir();
  const withIndex = convertOk([SHIPPED_SAMPLE, '-o', path.join(dir, 'a'), '--no-progress']).stdout;
  assert.match(withIndex, /^ {2}main thread {7}[\d.]+ us of CPU per line \(caps the rate at [\d,]+ lines\/s\)$/m);
  assert.match(withIndex, /^ {2}index thread {6}[\d.]+ us of CPU per line \(caps the rate at [\d,]+ lines\/s\)$/m);
  const without = convertOk([SHIPPED_SAMPLE, '-o', path.join(dir, 'b'), '--no-progress', '--no-index']).stdout;
  assert.doesNotMatch(without, /index thread/);
});
