// The CPU of one thread (lib/workers/thread-cpu.ts), as the converter's summary reports it for its
// serial threads: each thread's own figure, not the process's.
import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';
import { startWorker } from '../../lib/workers/start.ts';
import { threadCpuSeconds } from '../../lib/workers/thread-cpu.ts';
import { convertOk, SHIPPED_SAMPLE, tempDir } from '../helpers/common.ts';

test('two threads spinning at once each count their own CPU: parts of the process\'s, not the whole', async () => {
  const processBefore = process.cpuUsage();
  const mainBefore = threadCpuSeconds();
  const worker = startWorker(new URL('../fixtures/cpu-worker.ts', import.meta.url), { ms: 600 });
  const reply = new Promise<{ cpu: number }>((resolve, reject) => worker.once('message', resolve).once('error', reject));
  await new Promise((resolve) => worker.once('online', resolve));
  const until = performance.now() + 600;
  while (performance.now() < until); // the main thread spins too, while the worker does
  const { cpu: workerCpu } = await reply;
  const mainCpu = threadCpuSeconds() - mainBefore;
  const used = process.cpuUsage(processBefore);
  const processCpu = (used.user + used.system) / 1e6;
  await worker.terminate();
  // However loaded the machine, each thread got some CPU, and the two together are part of the process's.
  assert.ok(workerCpu > 0.05 && mainCpu > 0.05, `worker ${workerCpu} s, main ${mainCpu} s`);
  assert.ok(workerCpu + mainCpu <= processCpu + 0.05, `worker ${workerCpu} + main ${mainCpu} s within the process's ${processCpu} s`);
  assert.ok(workerCpu < processCpu - 0.05 && mainCpu < processCpu - 0.05, `neither thread reads the whole process (${processCpu} s)`);
});

test('the summary gives the index thread\'s CPU per line beside the main thread\'s, and none without the index', () => {
  const dir = tempDir();
  const withIndex = convertOk([SHIPPED_SAMPLE, '-o', path.join(dir, 'a'), '--no-progress']).stdout;
  assert.match(withIndex, /^ {2}main thread {7}[\d.]+ us of CPU per line \(caps the rate at [\d,]+ lines\/s\)$/m);
  assert.match(withIndex, /^ {2}index thread {6}[\d.]+ us of CPU per line \(caps the rate at [\d,]+ lines\/s\)$/m);
  const without = convertOk([SHIPPED_SAMPLE, '-o', path.join(dir, 'b'), '--no-progress', '--no-index']).stdout;
  assert.doesNotMatch(without, /index thread/);
});
