/** Shared by the index, cat and query tests: build folders of day files, read them back. */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { NostrEvent } from '../../lib/nostr/codec.ts';
import { convert } from '../../lib/convert/pipeline.ts';
import { listDayFiles } from '../../lib/day-files/names.ts';
import { readIndexFields } from '../../lib/nostr/fields.ts';
import { readLocatedMessages } from '../../lib/day-files/members.ts';
import { randomEvents } from '../../lib/dev/random-events.ts';
import { makeSigners, seededRandom, signEvent } from '../../lib/dev/synthetic.ts';
import { readDayFileEvents } from '../../lib/day-files/read-events.ts';

export { ROOT, REAL_SAMPLE, realSampleLines, runScript, tempDir } from './common.ts';

export function writeJsonl(file: string, events: (NostrEvent | string)[]): string {
  fs.writeFileSync(file, events.map((e) => (typeof e === 'string' ? e : JSON.stringify(e))).join('\n') + '\n');
  return file;
}

/** `count` unsigned random events over `days` days (convert them without validation). */
export const randomSample = (count: number, seed = 1, days = 5): NostrEvent[] => [...randomEvents({ seed, count, days, authors: 40, start: 1758844800 })];

/**
 * `count` signed kind-1 events with about `contentBytes` of random base64 content each (gzip keeps
 * ~3/4 of it, so day files and checkpoint parts come out at a size known in advance), alternating
 * over `days` days from 2025-09-26: big enough for parts S3 copies (5 MiB) from a modest input.
 */
export function bulkyEvents(count: number, o: { seed?: number; days?: number; contentBytes?: number } = {}): NostrEvent[] {
  const rand = seededRandom(o.seed ?? 1);
  const signers = makeSigners(4, o.seed ?? 1);
  const raw = Buffer.alloc(Math.ceil(((o.contentBytes ?? 30_000) * 3) / 4));
  const days = o.days ?? 2;
  return Array.from({ length: count }, (_, i) => {
    for (let k = 0; k < raw.length; k++) raw[k] = (rand() * 256) | 0;
    const created_at = 1758844800 + (i % days) * 86400 + i;
    return signEvent(signers[i % signers.length], { created_at, kind: 1, tags: [], content: raw.toString('base64') });
  });
}

/** Converts in-process with small gzip members (many members per day) and the index on. */
export async function convertInto(outputDir: string, input: string, opts: { validate?: boolean; index?: boolean; memberBytes?: number } = {}) {
  const validate = opts.validate ?? false;
  return convert({
    input, outputDir, parallel: 2, compressionLevel: 6, batchSize: 200, progress: false,
    validateIds: validate, validateSignatures: validate,
    memberBytes: opts.memberBytes ?? 8192, index: opts.index ?? true,
  });
}

export interface Row {
  id: string; kind: number; pubkey: string; created_at: number; file_path: string;
  member_offset: number | null; offset_in_member: number | null;
}

/** The index's rows, without indexed_at, by id. */
export function indexRows(indexPath: string): Row[] {
  const db = new Database(indexPath, { readonly: true });
  try {
    return db.prepare('SELECT id, kind, pubkey, created_at, file_path, member_offset, offset_in_member FROM events ORDER BY id').all() as Row[];
  } finally {
    db.close();
  }
}

/** What the index should hold: every stored event with where it is, found by walking the files. */
export async function storedRows(dir: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const name of listDayFiles(dir)) {
    for await (const b of readLocatedMessages(path.join(dir, name))) {
      for (let i = 0; i < b.count; i++) {
        const f = readIndexFields(b.buf, b.starts[i], b.ends[i]);
        rows.push({ id: f.id, kind: f.kind, pubkey: f.pubkey, created_at: f.createdAt, file_path: name, member_offset: b.memberOffsets[i], offset_in_member: b.offsetsInMember[i] });
      }
    }
  }
  return rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export async function allStoredEvents(dir: string): Promise<NostrEvent[]> {
  const out: NostrEvent[] = [];
  for (const name of listDayFiles(dir)) for await (const events of readDayFileEvents(path.join(dir, name))) out.push(...events);
  return out;
}

export const parseLines = (text: string): NostrEvent[] => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
