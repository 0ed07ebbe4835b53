/** Shared by the test suites: run the scripts for real, read day files back. */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';
import { decodeEvent, type NostrEvent } from '../../lib/nostr/codec.ts';
import { ROOT } from '../../lib/paths.ts';
import { listDayFiles } from '../../lib/day-files/names.ts';

export { ROOT };
/** 150 real events (see test/fixtures/README.md); REAL_SAMPLE points elsewhere. */
export const REAL_SAMPLE = process.env.REAL_SAMPLE ?? path.join(ROOT, 'test', 'fixtures', 'real-events.jsonl');
export const SHIPPED_SAMPLE = path.join(ROOT, 'sample', 'events.jsonl');

export function realSampleLines(): string[] {
  if (!fs.existsSync(REAL_SAMPLE)) throw new Error(`the real sample is missing: ${REAL_SAMPLE} (set REAL_SAMPLE)`);
  return fs.readFileSync(REAL_SAMPLE, 'utf8').split('\n').filter((l) => l.trim() !== '');
}

export function tempDir(prefix = 'pb-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs `npx tsx scripts/NAME.ts ARGS` (without npx's start-up cost). */
export function runScript(name: string, args: string[], input?: string | Buffer): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', `${name}.ts`), ...args], {
    cwd: ROOT,
    input,
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
}

export function convertOk(args: string[], input?: string | Buffer): SpawnSyncReturns<string> {
  const r = runScript('convert', ['--no-progress', ...args], input);
  if (r.status !== 0) throw new Error(`convert ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r;
}

/** Every event of every day file in `dir`, by file name, in file order. */
export async function readDayDir(dir: string): Promise<Map<string, NostrEvent[]>> {
  const out = new Map<string, NostrEvent[]>();
  for (const name of listDayFiles(dir)) {
    const events: NostrEvent[] = [];
    for await (const m of readMessages(path.join(dir, name))) events.push(decodeEvent(m));
    out.set(name, events);
  }
  return out;
}

export async function allEvents(dir: string): Promise<NostrEvent[]> {
  return [...(await readDayDir(dir)).values()].flat();
}

/** The NIP-01 fields of a parsed line, in canonical key order, for exact comparison. */
export function canonical(e: NostrEvent): NostrEvent {
  return { id: e.id, pubkey: e.pubkey, created_at: e.created_at, kind: e.kind, tags: e.tags, content: e.content, sig: e.sig };
}

/**
 * Yields each message's bytes (without the length prefix), through Node's gunzip stream: a
 * reader independent of lib/day-files/members.ts, which reads every member as one stream.
 */
export async function* readMessages(filePath: string): AsyncGenerator<Uint8Array> {
  let pending: Buffer = Buffer.alloc(0);
  const gunzip = fs.createReadStream(filePath).pipe(zlib.createGunzip());
  for await (const chunk of gunzip as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let pos = 0;
    for (;;) {
      const message = nextMessage(pending, pos);
      if (!message) break;
      yield message.bytes;
      pos = message.end;
    }
    pending = pending.subarray(pos);
  }
  if (pending.length > 0) throw new Error(`${filePath}: ends inside a message (${pending.length} bytes left over)`);
}

/** The length-delimited message starting at `pos`, or undefined when the buffer does not hold all of it yet. */
export function nextMessage(buf: Uint8Array, pos: number): { bytes: Uint8Array; end: number } | undefined {
  if (pos >= buf.length) return undefined;
  const reader = protobuf.Reader.create(buf.subarray(pos, Math.min(buf.length, pos + 10)));
  let length: number;
  try {
    length = reader.uint32();
  } catch {
    return undefined; // the varint itself is cut
  }
  const start = pos + reader.pos;
  if (start + length > buf.length) return undefined;
  return { bytes: buf.subarray(start, start + length), end: start + length };
}
