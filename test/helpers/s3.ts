import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type S3rver from '@20minutes/s3rver';
import { startLocalS3 } from '../../lib/dev/local-s3.ts';
import { S3Client } from '@aws-sdk/client-s3';

export interface SeenRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The HTTP status s3rver (or an injected failure) answered with. */
  status?: number;
}

export interface LocalS3 {
  endpoint: string;
  dir: string;
  /** Every request s3rver received, with its x-amz-* and range headers, in order. */
  requests: SeenRequest[];
  /** Answers the next request matching `match` with `status` (e.g. 503 SlowDown), `times` times. */
  failNext(match: (r: SeenRequest) => boolean, status: number, times?: number): void;
  /** Runs after s3rver answered each request: tests may change the answer (ctx is Koa's). */
  after: ((ctx: any, seen: SeenRequest) => void)[];
  client(endpoint?: string, customUserAgent?: string): S3Client;
  /** A client of this server (client() made once). */
  s3: S3Client;
  /** A client for the test's own set-up (writing what the instance would, cleaning up): its requests are marked. */
  setup: S3Client;
  /** The requests not sent through `setup`: what the code under test sent. */
  codeRequests(): SeenRequest[];
  /** The environment that points the AWS SDK at this server. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * s3rver on 127.0.0.1 (ephemeral port, temp directory) with `buckets` made, through the same
 * lib/dev/local-s3.ts that make run-local uses, recording every request. Points the SDK's
 * default chain at it through the environment (endpoint, s3rver's static credentials, region,
 * no EC2 metadata look-ups), so no traffic leaves loopback.
 * `checksums`: s3rver predates S3's additional checksums; with this, a PutObject's
 * x-amz-checksum-sha256 is kept and returned by HeadObject/GetObject with ChecksumMode ENABLED,
 * as S3 does (a later PutObject without one drops it).
 */
export async function startS3(buckets: string[], options: { checksums?: boolean } = {}): Promise<LocalS3> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-s3rver-'));
  const requests: SeenRequest[] = [];
  const afterHooks: ((ctx: any, seen: SeenRequest) => void)[] = [];
  const failures: { match: (r: SeenRequest) => boolean; status: number; times: number }[] = [];
  const checksums = new Map<string, string>();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const keepChecksum = (ctx: any, seen: SeenRequest) => {
    const [pathname, query = ''] = seen.url.split('?');
    if (seen.status !== 200) return;
    if (seen.method === 'PUT' && !/(^|&)(partNumber|uploadId)=/.test(query)) {
      const sum = seen.headers['x-amz-checksum-sha256'];
      if (sum) checksums.set(pathname, sum); else checksums.delete(pathname);
    } else if ((seen.method === 'HEAD' || seen.method === 'GET') && seen.headers['x-amz-checksum-mode'] === 'ENABLED' && checksums.has(pathname)) {
      ctx.set('x-amz-checksum-sha256', checksums.get(pathname));
    }
  };
  const record = (server: S3rver) => server.middleware.unshift(async (ctx, next) => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(ctx.headers as Record<string, string>)) {
      if (k.startsWith('x-amz-') || k === 'range' || k === 'content-length') headers[k] = v;
    }
    const seen: SeenRequest = { method: ctx.method as string, url: ctx.url as string, headers };
    requests.push(seen);
    const f = failures.find((x) => x.times > 0 && x.match(seen));
    if (f) {
      f.times--;
      ctx.status = seen.status = f.status;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${f.status === 503 ? 'SlowDown' : 'InternalError'}</Code><Message>injected by the test</Message></Error>`;
      return;
    }
    try {
      await next();
      seen.status = ctx.status as number;
      if (options.checksums) keepChecksum(ctx, seen);
    } catch (err) {
      seen.status = (err as { status?: number }).status ?? 500;
      throw err;
    }
    for (const hook of afterHooks) hook(ctx, seen);
  });
  const local = await startLocalS3(dir, buckets, 0, record);
  Object.assign(process.env, local.env);
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  const client = (endpoint = local.endpoint, customUserAgent?: string) => new S3Client({
    endpoint,
    customUserAgent,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  const s3 = client();
  const setup = client(local.endpoint, 'pb-test-setup');
  return {
    setup,
    codeRequests: () => requests.filter((r) => !(r.headers['x-amz-user-agent'] ?? '').includes('pb-test-setup')),
    endpoint: local.endpoint,
    env: local.env,
    dir,
    requests,
    after: afterHooks,
    failNext: (match, status, times = 1) => { failures.push({ match, status, times }); },
    client,
    s3,
    close: async () => {
      s3.destroy();
      setup.destroy();
      local.server.httpServer?.closeAllConnections();
      await local.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The env for a child process that should talk to this s3rver and nothing else. */
export function s3Env(s3: LocalS3): NodeJS.ProcessEnv {
  return { ...process.env, ...s3.env };
}

/**
 * A TCP proxy on 127.0.0.1 in front of `target` that can cut the connection of the next GET
 * after `bytes` bytes of its answer (headers included).
 */
export async function startCuttingProxy(target: string): Promise<{ endpoint: string; cutNextGet(bytes: number): void; stallNextGet(bytes: number, pathPrefix?: string): void; cuts: number; stalls: number; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const pending: { bytes: number; stall: boolean; path?: string }[] = [];
  const sockets = new Set<net.Socket>();
  const state = {
    endpoint: '', cuts: 0, stalls: 0,
    cutNextGet: (n: number) => { pending.push({ bytes: n, stall: false }); },
    /** The next GET's answer stops after `bytes` bytes (headers included) and the connection stays open, silent. */
    stallNextGet: (n: number, pathPrefix?: string) => { pending.push({ bytes: n, stall: true, path: pathPrefix }); },
    close: async () => {},
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    let budget: number | undefined;
    let stall = false;
    let stalled = false;
    client.on('data', (d: Buffer) => {
      const next = pending[0];
      if (budget === undefined && next && d.subarray(0, 4).toString() === 'GET ' && (!next.path || d.toString('latin1', 4, 4 + next.path.length) === next.path)) {
        ({ bytes: budget, stall } = pending.shift()!);
      }
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (stalled) return;
      if (budget !== undefined) {
        if (d.length >= budget) {
          client.write(d.subarray(0, budget));
          if (stall) {
            stalled = true;
            state.stalls++;
            return;
          }
          state.cuts++;
          client.destroy();
          upstream.destroy();
          return;
        }
        budget -= d.length;
      }
      client.write(d);
    });
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  return state;
}
