import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FatalError } from '../../lib/cli/errors.ts';
import { TransientError, backoffDelay, isTransient, networkOptions, withRetries } from '../../lib/net/retry.ts';
import { parseS3Prefix, parseS3Url } from '../../lib/s3/url.ts';

test('backoff: exponential ceiling, full jitter, capped', () => {
  const o = { baseDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(backoffDelay(1, o, () => 0.999), 99);
  assert.equal(backoffDelay(3, o, () => 0.999), 399);
  assert.equal(backoffDelay(10, o, () => 0.999), 999);
  assert.equal(backoffDelay(3, o, () => 0), 0);
});

test('network options: defaults < environment < arguments', () => {
  const saved = { ...process.env };
  try {
    process.env.PROTON_BEAM_RETRIES = '9';
    process.env.PROTON_BEAM_IDLE_TIMEOUT_MS = '1234';
    const o = networkOptions({ maxTries: 2 });
    assert.equal(o.maxTries, 2);
    assert.equal(o.idleTimeoutMs, 1234);
    assert.equal(o.baseDelayMs, 500);
  } finally {
    process.env = saved;
  }
});

test('withRetries: transient errors retried up to maxTries, others at once', async () => {
  let n = 0;
  const opts = { maxTries: 3, baseDelayMs: 1, maxDelayMs: 2, onRetry: () => {} };
  assert.equal(await withRetries('x', async () => { if (++n < 3) throw new TransientError('503'); return 'ok'; }, opts), 'ok');
  assert.equal(n, 3);
  n = 0;
  await assert.rejects(withRetries('x', async () => { n++; throw new TransientError('503'); }, opts), /503/);
  assert.equal(n, 3);
  n = 0;
  await assert.rejects(withRetries('x', async () => { n++; throw new FatalError('404'); }, opts), /404/);
  assert.equal(n, 1);
  assert.ok(isTransient(Object.assign(new Error('x'), { code: 'ECONNRESET' })));
  assert.ok(isTransient({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } }));
  assert.ok(!isTransient({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }));
});

test('s3 URLs', () => {
  assert.deepEqual(parseS3Url('s3://my-bucket/a/b.jsonl.gz'), { bucket: 'my-bucket', key: 'a/b.jsonl.gz' });
  assert.deepEqual(parseS3Prefix('s3://my-bucket'), { bucket: 'my-bucket', key: '' });
  assert.deepEqual(parseS3Prefix('s3://my-bucket/run1'), { bucket: 'my-bucket', key: 'run1/' });
  assert.deepEqual(parseS3Prefix('s3://my-bucket/run1/'), { bucket: 'my-bucket', key: 'run1/' });
  assert.throws(() => parseS3Prefix('s3://my-bucket/a//b'), /empty path segment/);
  assert.throws(() => parseS3Url('https://my-bucket/x'), /not an S3 URL/);
  assert.throws(() => parseS3Url('s3://my..bucket/x'), /not a valid bucket name/);
});
