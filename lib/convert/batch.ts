/**
 * The per-event hot path, run inside the workers: a batch of JSONL lines in, the valid events
 * out as length-delimited protobuf messages plus the columns the main thread needs (ids for
 * dedup, day, and the index fields), and every rejected line with its number and reason.
 */
import { isUtf8 } from 'node:buffer';
import { newWriter, writeDelimited } from '../nostr/codec.ts';
import { BAD_SIGNATURE, checkId, checkShape, isRejection, type CheckOptions, type RejectReason } from '../nostr/validate.ts';
import type { Verifier } from '../nostr/verifier-types.ts';
import { wasmVerifier } from '../nostr/verify-wasm.ts';
import { isKnownCopy, type StoredIdHints } from './duplicates.ts';

/** What the main thread sends a worker: whole lines, and those whose id it knows is stored. */
export interface BatchTask {
  seq: number;
  firstLine: number;
  bytes: Uint8Array;
  stored?: StoredIdHints;
}

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
   * Lines found to be copies of a stored event before their signature was checked (a hinted
   * id, or the id of an event verified earlier in this batch): valid duplicates, not returned.
   */
  duplicates: number;
  /** Number of valid events; the arrays below hold one entry per valid event. */
  count: number;
  ids: Uint8Array; // 32 bytes each
  pubkeys: Uint8Array; // 32 bytes each
  createdAt: Float64Array;
  kinds: Int32Array;
  /** End offset in `messages` of each event's varint(length) + ProtoEvent bytes. */
  messageEnds: Uint32Array;
  messages: Uint8Array;
}

const MAX_DETAIL = 160;

/**
 * Splits the batch into line strings; a line that is not valid UTF-8 comes back as null.
 * Each line is decoded on its own: decoding the batch whole makes one two-byte string as soon
 * as any line holds non-ASCII, and parsing and hashing its slices is then much slower.
 */
function splitLines(bytes: Buffer): (string | null)[] {
  const checkEach = !isUtf8(bytes);
  const lines: (string | null)[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end === -1) end = bytes.length;
    lines.push(checkEach && !isUtf8(bytes.subarray(start, end)) ? null : bytes.toString('utf8', start, end));
    start = end + 1;
  }
  return lines;
}

const isBlank = (s: string): boolean => s.length === 0 || s.trim().length === 0;

// The signature's bytes for the verifier: one buffer per thread, rewritten for each event.
const sigBytes = Buffer.allocUnsafe(64);
let fallbackVerifier: Verifier | undefined;

/** `verifier`: the thread's own (made once per worker); WASM when none is given. */
export function processBatch(seq: number, firstLine: number, bytes: Buffer, opts: CheckOptions, stored?: StoredIdHints, verifier?: Verifier): BatchResult {
  const verify = opts.validateSignatures ? verifier ?? (fallbackVerifier ??= wasmVerifier()) : undefined;
  const lines = splitLines(bytes);
  const verified = new Set<string>(); // ids whose signature verified in this batch
  const n = lines.length;
  const ids = Buffer.allocUnsafe(32 * n);
  const pubkeys = Buffer.allocUnsafe(32 * n);
  const createdAt = new Float64Array(n);
  const kinds = new Int32Array(n);
  const messageEnds = new Uint32Array(n);
  const rejects: LineRejection[] = [];
  const writer = newWriter();
  let count = 0;
  let duplicates = 0;

  for (let i = 0; i < n; i++) {
    const lineNumber = firstLine + i;
    let line = lines[i];
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
      if (opts.validateSignatures && isKnownCopy(stored, i, event.id, verified)) {
        duplicates++; // the duplicate rule (duplicates.ts): its signature was checked already
        continue;
      }
      const at = count * 32;
      ids.write(event.id, at, 'hex');
      pubkeys.write(event.pubkey, at, 'hex');
      if (verify) {
        sigBytes.write(event.sig, 0, 'hex');
        if (!verify.verify(ids.subarray(at, at + 32), pubkeys.subarray(at, at + 32), sigBytes)) {
          rejects.push({ line: lineNumber, reason: 'bad_signature', detail: BAD_SIGNATURE, id: event.id });
          continue;
        }
        verified.add(event.id);
      }
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

  return {
    seq,
    lines: n,
    rejects,
    duplicates,
    count,
    ids: ids.subarray(0, 32 * count),
    pubkeys: pubkeys.subarray(0, 32 * count),
    createdAt: createdAt.subarray(0, count),
    kinds: kinds.subarray(0, count),
    messageEnds: messageEnds.subarray(0, count),
    messages: writer.finish(),
  };
}
