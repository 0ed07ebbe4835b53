import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bundleOf, startWorker } from '../../lib/workers/start.ts';

test('a worker module is bundled once into node_modules/.cache and runs without tsx', async () => {
  const script = new URL('../../lib/convert/worker.ts', import.meta.url);
  const bundle = bundleOf(script);
  assert.ok(bundle, 'bundled');
  assert.match(fileURLToPath(bundle), /node_modules\/\.cache\/proton-beam\/convert-worker-[0-9a-f]{16}\.mjs$/);
  assert.equal(bundleOf(script), bundle, 'once per process');
  assert.doesNotMatch(fs.readFileSync(bundle, 'utf8'), /from "esbuild"/, 'a worker does not load the bundler');
  const worker = startWorker(script, { validateIds: true, validateSignatures: true });
  try {
    worker.postMessage({ seq: 0, firstLine: 1, bytes: Buffer.from('[1]\nnot json\n') });
    const [result] = await once(worker, 'message');
    assert.deepEqual(result.rejects.map((r: { reason: string }) => r.reason), ['not_an_object', 'invalid_json']);
  } finally {
    await worker.terminate();
  }
});

test('a bundled worker starts without this process\'s TypeScript loader (it does not need it)', async () => {
  assert.ok(process.execArgv.some((a) => a.includes('tsx')), 'the tests run with tsx');
  const worker = startWorker(new URL('../fixtures/echo-worker.ts', import.meta.url), null);
  try {
    worker.postMessage(Buffer.from('x'));
    const [result] = await once(worker, 'message');
    assert.deepEqual(result.execArgv, []);
  } finally {
    await worker.terminate();
  }
});

test('a worker module that imports files of ours from other folders runs from its bundle, and they find proto/ beside them', async () => {
  const script = new URL('../fixtures/codec-worker.ts', import.meta.url);
  assert.ok(bundleOf(script), 'bundled, not the tsx fallback');
  const worker = startWorker(script, 'hello');
  try {
    const [result] = await once(worker, 'message');
    assert.equal(result.data, 'hello');
    assert.deepEqual(result.execArgv, [], 'no TypeScript loader: the bundle ran');
    assert.ok(result.encodedBytes > 260, 'lib/nostr/codec.ts loaded proto/nostr.proto through lib/paths.ts');
  } finally {
    await worker.terminate();
  }
});

test('the convert, index writer and index rebuild workers all bundle from their folders', () => {
  for (const worker of ['convert/worker.ts', 'index/writer-worker.ts', 'index/rebuild-worker.ts']) {
    assert.ok(bundleOf(new URL(`../../lib/${worker}`, import.meta.url)), worker);
  }
});
