import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the server does with one request (taken in order from `faults`; then 'ok'). */
export type Fault =
  | { kind: 'ok' }
  /** Announces the full length, sends `after` body bytes, then cuts the connection. */
  | { kind: 'cut'; after: number }
  /** Answers this status with a short body (e.g. 500, 503, 404, 403). */
  | { kind: 'status'; status: number }
  /** Sends `after` body bytes, then nothing more while the connection stays open. */
  | { kind: 'stall'; after: number }
  /** Never answers: no status line, no headers. */
  | { kind: 'stall-headers' }
  /** Ignores Range: 200 with the whole body (optionally cut after `after` bytes). */
  | { kind: 'ignore-range'; after?: number }
  /** Answers a Range request with a 206 that starts `shift` bytes later than asked. */
  | { kind: 'bad-range-start'; shift: number };

export interface RequestRecord {
  path: string;
  range?: string;
  fault: Fault['kind'];
}

export interface FaultServer {
  url(path: string): string;
  /** Content served under each path; tests may change it (the ETag follows the content). */
  files: Map<string, Buffer>;
  faults: Fault[];
  requests: RequestRecord[];
  /** Paths answered with a 302 to another path. */
  redirects: Map<string, string>;
  /** Send the ETag header (default true). */
  etag: boolean;
  close(): Promise<void>;
}

const CHUNK = 16 * 1024;

/** Writes `body` in small chunks (so a cut lands mid-body), then calls `then`. */
function writeChunks(res: http.ServerResponse, body: Buffer, then: () => void): void {
  let pos = 0;
  const next = (): void => {
    while (pos < body.length) {
      const chunk = body.subarray(pos, pos + CHUNK);
      pos += chunk.length;
      if (!res.write(chunk)) { res.once('drain', next); return; }
    }
    then();
  };
  next();
}

/** An HTTP/1.1 server on 127.0.0.1 (ephemeral port) that serves `files` and misbehaves on demand. */
export async function startFaultServer(files: Record<string, Buffer>): Promise<FaultServer> {
  const state: FaultServer = {
    url: () => '',
    files: new Map(Object.entries(files)),
    redirects: new Map(),
    faults: [],
    requests: [],
    etag: true,
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const fault = state.faults.shift() ?? { kind: 'ok' };
    const range = req.headers.range;
    state.requests.push({ path, range, fault: fault.kind });
    const data = state.files.get(path);
    const redirect = state.redirects.get(path);
    if (redirect) {
      state.faults.unshift(fault); // the fault is for the request that gets the content
      res.writeHead(302, { location: redirect });
      res.end();
      return;
    }
    if (fault.kind === 'stall-headers') return; // say nothing until the client gives up
    if (fault.kind === 'status') {
      res.writeHead(fault.status, { 'content-type': 'text/plain' });
      res.end(`status ${fault.status}\n`);
      return;
    }
    if (!data) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    if (state.etag) headers.etag = `"${crypto.createHash('md5').update(data).digest('hex')}"`;
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(range ?? '');
    if (m && fault.kind !== 'ignore-range') {
      start = Number(m[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        res.end();
        return;
      }
      const shown = fault.kind === 'bad-range-start' ? start + fault.shift : start;
      res.writeHead(206, { ...headers, 'content-range': `bytes ${shown}-${data.length - 1}/${data.length}`, 'content-length': data.length - start });
    } else {
      res.writeHead(200, { ...headers, 'content-length': data.length });
    }
    const body = data.subarray(start);
    const cutAfter = fault.kind === 'cut' ? fault.after : fault.kind === 'ignore-range' ? fault.after : undefined;
    if (cutAfter !== undefined) {
      writeChunks(res, body.subarray(0, cutAfter), () => {
        res.socket?.end(() => res.socket?.destroy());
      });
    } else if (fault.kind === 'stall') {
      writeChunks(res, body.subarray(0, fault.after), () => {}); // then silence
    } else {
      writeChunks(res, body, () => res.end());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  state.url = (path: string) => `http://127.0.0.1:${port}${path}`;
  state.close = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return state;
}

/** JSONL-looking test data: `lines` numbered lines, so a lost or doubled line shows. */
export function makeJsonl(lines: number, seed = 1): Buffer {
  const out: string[] = [];
  let x = seed;
  for (let i = 0; i < lines; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push(JSON.stringify({ n: i, id: x.toString(16).padStart(8, '0').repeat(8), content: 'x'.repeat(x % 200) }));
  }
  return Buffer.from(out.join('\n') + '\n');
}
