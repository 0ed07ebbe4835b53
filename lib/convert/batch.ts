/**
 * The per-event hot path, run inside the workers: a batch of JSONL lines in, the valid events
 * out as length-delimited protobuf messages plus the columns the writers need (ids for dedup,
 * day, and the index fields), split by day partition (lib/convert/partitions.ts) so that the main
 * thread hands each part to its writer thread without touching events; and every rejected line
 * with its number and reason.
 */
import { isUtf8 } from 'node:buffer';
import { newWriter, writeDelimited } from '../nostr/codec.ts';
import { BAD_SIGNATURE, checkId, checkShape, isRejection, type CheckOptions, type RejectReason } from '../nostr/validate.ts';
import type { Verifier } from '../nostr/verifier-types.ts';
import { wasmVerifier } from '../nostr/verify-wasm.ts';
import { PARTITIONS, partitionOfCreatedAt, type PartitionPart } from './partitions.ts';

/** What the main thread sends a worker: whole lines (head, when given, then bytes). */
export interface BatchTask {
  seq: number;
  firstLine: number;
  head?: Uint8Array;
  bytes: Uint8Array;
}

/**
 * True when the id at ids[offset..] is known to be stored already (the folder's ids before the
 * run, lib/convert/shared-id-set.ts): the line is a copy, its signature need not be checked.
 */
export type StoredIdProbe = (ids: Uint8Array, offset: number, partition: number) => boolean;

export interface LineRejection {
  line: number;
  reason: RejectReason;
  detail: string;
  /** The event's id, on a bad_signature: a bad copy of a stored event counts as a duplicate. */
  id?: string;
}

export interface BatchResult {
  seq: number;
  lines: number;
  rejects: LineRejection[];
  /**
   * Lines found to be copies of a stored event before their signature was checked (an id
   * stored before the run, or the id of an event verified earlier in this batch): valid
   * duplicates, not returned.
   */
  duplicates: number;
  /** Number of valid events, over all parts. */
  count: number;
  /** The valid events and bad-signature lines by day partition, partitions in increasing order. */
  parts: PartitionPart[];
}

const MAX_DETAIL = 160;

// Where each line of the batch ends (its newline, or the batch's end): one scan of the bytes,
// kept per thread and grown as needed. A last line needs no newline; a newline at the end starts none.
let lineEnds = new Uint32Array(8192);
function findLineEnds(bytes: Buffer): number {
  let n = 0;
  for (let start = 0; start < bytes.length; n++) {
    let end = bytes.indexOf(0x0a, start);
    if (end === -1) end = bytes.length;
    if (n === lineEnds.length) {
      const grown = new Uint32Array(2 * n);
      grown.set(lineEnds);
      lineEnds = grown;
    }
    lineEnds[n] = end;
    start = end + 1;
  }
  return n;
}

const isBlank = (s: string): boolean => s.length === 0 || s.trim().length === 0;

// The signature's bytes for the verifier: one buffer per thread, rewritten for each event.
const sigBytes = Buffer.allocUnsafe(64);
let fallbackVerifier: Verifier | undefined;

/** `verifier`: the thread's own (made once per worker); WASM when none is given. */
export function processBatch(seq: number, firstLine: number, bytes: Buffer, opts: CheckOptions, stored?: StoredIdProbe, verifier?: Verifier): BatchResult {
  const verify = opts.validateSignatures ? verifier ?? (fallbackVerifier ??= wasmVerifier()) : undefined;
  // Each line is decoded on its own, when its turn comes: decoding the batch whole makes one
  // two-byte string as soon as any line holds non-ASCII (parsing and hashing its slices is then
  // much slower), and holding every line's string at once makes the young generation promote them.
  const checkEach = !isUtf8(bytes);
  let lineStart = 0;
  const verified = new Set<string>(); // ids whose signature verified in this batch
  const n = findLineEnds(bytes);
  const ids = Buffer.allocUnsafe(32 * n);
  const pubkeys = Buffer.allocUnsafe(32 * n);
  const partitionOf = new Uint8Array(n);
  const bad: { line: number; partition: number; id: string; before: number }[] = [];
  const partCounts = new Uint32Array(PARTITIONS);
  const createdAt = new Float64Array(n);
  const kinds = new Int32Array(n);
  const messageEnds = new Uint32Array(n);
  const rejects: LineRejection[] = [];
  const writer = newWriter();
  let count = 0;
  let duplicates = 0;

  for (let i = 0; i < n; i++) {
    const lineNumber = firstLine + i;
    const lineEnd = lineEnds[i];
    let line = checkEach && !isUtf8(bytes.subarray(lineStart, lineEnd)) ? null : bytes.toString('utf8', lineStart, lineEnd);
    lineStart = lineEnd + 1;
    if (line === null) {
      rejects.push({ line: lineNumber, reason: 'invalid_utf8', detail: 'the line is not valid UTF-8' });
      continue;
    }
    if (line.endsWith('\r')) line = line.slice(0, -1);
    // A byte-order mark at the start of a line: dumps concatenated with `cat` carry one per file.
    if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (isBlank(line)) {
      rejects.push({ line: lineNumber, reason: 'blank_line', detail: 'empty line' });
      continue;
    }
    try {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch (err) {
        rejects.push({ line: lineNumber, reason: 'invalid_json', detail: String((err as Error).message).slice(0, MAX_DETAIL) });
        continue;
      }
      const event = checkShape(parsed);
      if (isRejection(event)) {
        rejects.push({ line: lineNumber, ...event });
        continue;
      }
      const badId = checkId(event, opts);
      if (badId) {
        rejects.push({ line: lineNumber, ...badId });
        continue;
      }
      const at = count * 32;
      ids.write(event.id, at, 'hex');
      const partition = partitionOfCreatedAt(event.created_at);
      if (verify && (verified.has(event.id) || stored?.(ids, at, partition))) {
        duplicates++; // the duplicate rule (docs/FORMAT.md): its signature was checked already
        continue;
      }
      pubkeys.write(event.pubkey, at, 'hex');
      if (verify) {
        sigBytes.write(event.sig, 0, 'hex');
        if (!verify.verify(ids.subarray(at, at + 32), pubkeys.subarray(at, at + 32), sigBytes)) {
          rejects.push({ line: lineNumber, reason: 'bad_signature', detail: BAD_SIGNATURE, id: event.id });
          bad.push({ line: lineNumber, partition, id: event.id, before: partCounts[partition] });
          continue;
        }
        verified.add(event.id);
      }
      partitionOf[count] = partition;
      partCounts[partition]++;
      createdAt[count] = event.created_at;
      kinds[count] = event.kind;
      writeDelimited(event, writer);
      messageEnds[count] = writer.len;
      count++;
    } catch (err) {
      // Nothing in a line may stop the run; a bug shows up here, counted and logged.
      rejects.push({ line: lineNumber, reason: 'internal_error', detail: String((err as Error)?.message ?? err).slice(0, MAX_DETAIL) });
    }
  }

  const all = { count, ids, pubkeys, createdAt, kinds, messageEnds, messages: writer.finish() };
  return { seq, lines: n, rejects, duplicates, count, parts: splitByPartition(all, partitionOf, partCounts, bad) };
}

interface AllEvents {
  count: number;
  ids: Uint8Array;
  pubkeys: Uint8Array;
  createdAt: Float64Array;
  kinds: Int32Array;
  messageEnds: Uint32Array;
  messages: Uint8Array;
}

/** The batch's events and bad-signature lines, part by part (each part in a buffer of its own, movable to another thread). */
function splitByPartition(all: AllEvents, partitionOf: Uint8Array, partCounts: Uint32Array, bad: { line: number; partition: number; id: string; before: number }[]): PartitionPart[] {
  const badCounts = new Uint32Array(PARTITIONS);
  for (const b of bad) badCounts[b.partition]++;
  const messageBytes = new Uint32Array(PARTITIONS);
  for (let i = 0, start = 0; i < all.count; i++) {
    messageBytes[partitionOf[i]] += all.messageEnds[i] - start;
    start = all.messageEnds[i];
  }
  const byPartition: (PartitionPart | undefined)[] = [];
  const parts: PartitionPart[] = [];
  for (let p = 0; p < PARTITIONS; p++) {
    const n = partCounts[p];
    const nb = badCounts[p];
    if (n === 0 && nb === 0) continue;
    // One ArrayBuffer per part (8-byte columns first, then 4-byte, then bytes): a shuffled batch
    // has a part in every partition, and each buffer moved between threads has a cost of its own.
    const buffer = new ArrayBuffer(8 * (n + nb) + 4 * (2 * n + nb) + 32 * (2 * n + nb) + messageBytes[p]);
    let at = 0;
    const take = <T>(make: (b: ArrayBuffer, offset: number, length: number) => T, length: number, size: number): T => {
      const view = make(buffer, at, length);
      at += length * size;
      return view;
    };
    const f64 = (b: ArrayBuffer, o: number, l: number) => new Float64Array(b, o, l);
    const u32 = (b: ArrayBuffer, o: number, l: number) => new Uint32Array(b, o, l);
    const i32 = (b: ArrayBuffer, o: number, l: number) => new Int32Array(b, o, l);
    const u8 = (b: ArrayBuffer, o: number, l: number) => new Uint8Array(b, o, l);
    const part: PartitionPart = {
      partition: p, count: 0,
      createdAt: take(f64, n, 8), badLines: take(f64, nb, 8),
      kinds: take(i32, n, 4), messageEnds: take(u32, n, 4), badBefore: take(u32, nb, 4),
      ids: take(u8, 32 * n, 1), pubkeys: take(u8, 32 * n, 1), badIds: take(u8, 32 * nb, 1), messages: take(u8, messageBytes[p], 1),
    };
    byPartition[p] = part;
    parts.push(part);
  }
  const used = new Uint32Array(PARTITIONS); // message bytes copied into each part so far
  for (let i = 0, start = 0; i < all.count; i++) {
    const p = byPartition[partitionOf[i]]!;
    const k = p.count++;
    p.ids.set(all.ids.subarray(32 * i, 32 * i + 32), 32 * k);
    p.pubkeys.set(all.pubkeys.subarray(32 * i, 32 * i + 32), 32 * k);
    p.createdAt[k] = all.createdAt[i];
    p.kinds[k] = all.kinds[i];
    const end = all.messageEnds[i];
    p.messages.set(all.messages.subarray(start, end), used[p.partition]);
    p.messageEnds[k] = used[p.partition] += end - start;
    start = end;
  }
  const filled = new Uint32Array(PARTITIONS);
  for (const b of bad) {
    const p = byPartition[b.partition]!;
    const k = filled[b.partition]++;
    p.badLines[k] = b.line;
    Buffer.from(p.badIds.buffer, p.badIds.byteOffset, p.badIds.byteLength).write(b.id, 32 * k, 'hex');
    p.badBefore[k] = b.before;
  }
  return parts;
}
