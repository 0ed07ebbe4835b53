import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import zlib from 'node:zlib';
import { openInput, type InputOptions } from '../../lib/input/open.ts';
import { makeJsonl, startFaultServer, type FaultServer } from '../helpers/fault-server.ts';
import { fatal, readAll } from '../helpers/streams.ts';

const data = makeJsonl(20_000); // ~2.6 MB
const gz = zlib.gzipSync(data);
const half = Math.floor(data.length / 2);
const twoMembers = Buffer.concat([zlib.gzipSync(data.subarray(0, half)), zlib.gzipSync(data.subarray(half))]);

// Fast retries for tests: tiny backoff; a stall timeout short enough for the stall tests, long
// enough that a busy machine (CI runs test files in parallel) is not taken for a stall.
const fast: InputOptions = { maxTries: 4, baseDelayMs: 5, maxDelayMs: 20, onRetry: () => {}, idleTimeoutMs: 2000 };

let srv: FaultServer;
before(async () => {
  srv = await startFaultServer({ '/events.jsonl': data, '/events.jsonl.gz': gz, '/blob': gz, '/two.gz': twoMembers });
});
after(() => srv.close());
beforeEach(() => {
  srv.faults = [];
  srv.requests = [];
  srv.etag = true;
  srv.files.set('/events.jsonl', data);
});

async function fetchAll(path: string, opts: InputOptions = fast) {
  const src = await openInput(srv.url(path), opts);
  const bytes = await readAll(src.stream);
  return { src, bytes };
}

describe('http input', () => {
  test('plain download: identical bytes, size and byte count known', async () => {
    const { src, bytes } = await fetchAll('/events.jsonl');
    assert.ok(bytes.equals(data));
    assert.equal(src.totalBytes, data.length);
    assert.equal(src.bytesRead(), data.length);
    assert.equal(src.compression, 'none');
    assert.deepEqual(srv.requests.map((r) => r.range), [undefined]);
  });

  test('connection cut mid-body twice: resumed with Range from the byte reached', async () => {
    srv.faults = [{ kind: 'cut', after: 300_000 }, { kind: 'cut', after: 500_000 }];
    const retries: (number | undefined)[] = [];
    const { src, bytes } = await fetchAll('/events.jsonl', { ...fast, onRetry: (i) => retries.push(i.offset) });
    assert.deepEqual(retries, [300_000, 800_000]);
    assert.equal(bytes.length, data.length);
    assert.ok(bytes.equals(data));
    assert.deepEqual(srv.requests.map((r) => r.range), [undefined, 'bytes=300000-', 'bytes=800000-']);
    assert.equal(src.stats!().resumes, 2);
  });

  test('500 three times then success', async () => {
    srv.faults = [{ kind: 'status', status: 500 }, { kind: 'status', status: 503 }, { kind: 'status', status: 500 }];
    const { bytes } = await fetchAll('/events.jsonl');
    assert.ok(bytes.equals(data));
    assert.equal(srv.requests.length, 4);
  });

  test('500 in the middle of a resume sequence', async () => {
    srv.faults = [{ kind: 'cut', after: 100_000 }, { kind: 'status', status: 502 }, { kind: 'cut', after: 1 }];
    const { bytes } = await fetchAll('/events.jsonl');
    assert.ok(bytes.equals(data));
    assert.deepEqual(srv.requests.map((r) => r.range), [undefined, 'bytes=100000-', 'bytes=100000-', 'bytes=100001-']);
  });

  test('500 forever: gives up after maxTries with one line naming the URL', async () => {
    srv.faults = Array.from({ length: 10 }, () => ({ kind: 'status', status: 500 }) as const);
    await fatal(openInput(srv.url('/events.jsonl'), fast), /cannot read input http:\/\/127\.0\.0\.1:\d+\/events\.jsonl/, /gave up after 4/, /HTTP 500/);
    assert.equal(srv.requests.length, 4);
  });

  test('a cut that keeps failing without progress gives up mid-stream', async () => {
    srv.faults = [{ kind: 'cut', after: 200_000 }, ...Array.from({ length: 10 }, () => ({ kind: 'status', status: 503 }) as const)];
    const src = await openInput(srv.url('/events.jsonl'), fast);
    await fatal(readAll(src.stream), /gave up after 4 failed tries at byte 200000 of \d+/);
  });

  test('stalled body: the idle timeout fires and the read resumes', async () => {
    srv.faults = [{ kind: 'stall', after: 250_000 }];
    const t0 = Date.now();
    const { bytes } = await fetchAll('/events.jsonl');
    assert.ok(bytes.equals(data));
    assert.ok(Date.now() - t0 >= 350, 'waited for the idle timeout');
    assert.deepEqual(srv.requests.map((r) => r.range), [undefined, 'bytes=250000-']);
  });

  test('stalled before the headers: retried', async () => {
    srv.faults = [{ kind: 'stall-headers' }];
    const { bytes } = await fetchAll('/events.jsonl');
    assert.ok(bytes.equals(data));
    assert.equal(srv.requests.length, 2);
  });

  test('a slow consumer is not a stall', async () => {
    const src = await openInput(srv.url('/events.jsonl'), { ...fast, idleTimeoutMs: 150 });
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of src.stream) {
      chunks.push(c as Buffer);
      if (n++ < 3) await new Promise((r) => setTimeout(r, 300));
    }
    assert.ok(Buffer.concat(chunks).equals(data));
    assert.equal(srv.requests.length, 1);
  });

  test('server ignoring Range: the bytes already delivered are skipped, none lost or doubled', async () => {
    srv.faults = [{ kind: 'cut', after: 700_001 }, { kind: 'ignore-range', after: 900_000 }, { kind: 'ignore-range' }];
    const { src, bytes } = await fetchAll('/events.jsonl');
    assert.ok(bytes.equals(data));
    assert.deepEqual(srv.requests.map((r) => r.range), [undefined, 'bytes=700001-', 'bytes=900000-']);
    assert.deepEqual(src.stats!(), { resumes: 2, rangeIgnored: 2, bytesSkipped: 700_001 + 900_000 });
  });

  test('a 206 that starts elsewhere than asked is a clear error', async () => {
    srv.faults = [{ kind: 'cut', after: 100_000 }, { kind: 'bad-range-start', shift: 10 }];
    const src = await openInput(srv.url('/events.jsonl'), fast);
    await fatal(readAll(src.stream), /asked to resume at byte 100000, the server sent bytes from 100010/);
  });

  test('content that changes between requests is a clear error', async () => {
    srv.faults = [{ kind: 'cut', after: 100_000 }];
    const src = await openInput(srv.url('/events.jsonl'), fast);
    const it = src.stream[Symbol.asyncIterator]();
    await it.next();
    const changed = Buffer.from(data);
    changed[5] ^= 1;
    srv.files.set('/events.jsonl', changed);
    await fatal((async () => { for (;;) if ((await it.next()).done) break; })(), /changed while it was being read/);
  });

  test('redirects are followed, also when resuming', async () => {
    srv.redirects.set('/latest.jsonl', '/events.jsonl');
    srv.faults = [{ kind: 'cut', after: 400_000 }];
    const { bytes } = await fetchAll('/latest.jsonl');
    assert.ok(bytes.equals(data));
    assert.deepEqual(srv.requests.map((r) => [r.path, r.range]), [
      ['/latest.jsonl', undefined], ['/events.jsonl', undefined], ['/latest.jsonl', 'bytes=400000-'], ['/events.jsonl', 'bytes=400000-'],
    ]);
  });

  test('404 and 403: one line, exit-1 error, no retries', async () => {
    await fatal(openInput(srv.url('/missing.jsonl'), fast), /cannot read input http:\/\/127\.0\.0\.1:\d+\/missing\.jsonl: not found \(HTTP 404\); check the URL/);
    assert.equal(srv.requests.length, 1);
    srv.faults = [{ kind: 'status', status: 403 }];
    const e = await fatal(openInput(srv.url('/events.jsonl'), fast), /access denied \(HTTP 403\)/, /presigned/);
    assert.equal((e as { exitCode?: number }).exitCode, 1);
    assert.equal(srv.requests.length, 2);
  });

  test('connection refused: retried, then one line', async () => {
    await fatal(openInput('http://127.0.0.1:1/x.jsonl', { ...fast, maxTries: 2 }), /cannot read input http:\/\/127\.0\.0\.1:1\/x\.jsonl: gave up after 2/, /ECONNREFUSED/);
  });

  test('gzip by name, by magic bytes, and with two members; cut mid-body', async () => {
    for (const path of ['/events.jsonl.gz', '/blob', '/two.gz']) {
      srv.faults = [{ kind: 'cut', after: 123_457 }];
      const { src, bytes } = await fetchAll(path);
      assert.equal(src.compression, 'gzip', path);
      assert.ok(bytes.equals(data), path);
      assert.equal(src.bytesRead(), srv.files.get(path)!.length);
    }
  });

  test('truncated gzip: one-line error', async () => {
    srv.files.set('/trunc.gz', gz.subarray(0, gz.length - 100));
    const src = await openInput(srv.url('/trunc.gz'), fast);
    await fatal(readAll(src.stream), /trunc\.gz: truncated or corrupt gzip data/);
  });

  test('without an ETag, the resume is still exact', async () => {
    srv.etag = false;
    srv.faults = [{ kind: 'cut', after: 65_537 }];
    const { bytes } = await fetchAll('/events.jsonl');
    assert.ok(bytes.equals(data));
  });

  test('closing the stream while the body is stalled returns at once', async () => {
    srv.faults = [{ kind: 'stall', after: 100_000 }];
    const src = await openInput(srv.url('/events.jsonl'), { ...fast, idleTimeoutMs: 30_000 });
    const it = src.stream[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 100)); // the reader is now waiting on the stalled body
    const t0 = Date.now();
    src.stream.destroy();
    await new Promise((r) => src.stream.once('close', r));
    assert.ok(Date.now() - t0 < 2000, `closed after ${Date.now() - t0} ms`);
    assert.equal(srv.requests.length, 1, 'no new request after the close');
  });

  test('the consumer stopping early does not hang or leak', async () => {
    const src = await openInput(srv.url('/events.jsonl'), fast);
    for await (const _ of src.stream) break;
    assert.ok(src.stream.destroyed);
  });
});
