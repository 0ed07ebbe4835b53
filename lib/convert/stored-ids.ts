/**
 * Finds, on the main thread and before a batch goes to a worker, the lines whose id is already
 * stored, so that the worker need not verify their signatures: a Schnorr verify (~175 us here)
 * costs about 3 times all the rest of an event's work, gzip included, and dumps merged from
 * several relays repeat most events.
 *
 * This reads the id from the line's text without parsing it. That is only a hint: the worker
 * stores nothing on its strength; it skips the signature of a line whose parsed (and, unless
 * turned off, hash-checked) id is the hinted one, and counts the line as a duplicate.
 */
import type { IdSet } from './id-set.ts';

/** Index of the line in its batch (from 0) -> the id read from it, already in the set. */
export type StoredIdHints = Map<number, string>;

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const COLON = 0x3a;
const ID_KEY = Buffer.from('"id"');
const HEX_LENGTH = 64;

/** The lines of `bytes` (JSONL) whose "id" is in `stored`; undefined when there are none. */
export function findStoredIds(bytes: Buffer, stored: IdSet): StoredIdHints | undefined {
  if (stored.size === 0) return undefined;
  let hints: StoredIdHints | undefined;
  const id = Buffer.allocUnsafe(32);
  let keyAt = -1; // the next "id" at or after the current line, once looked up
  let start = 0;
  for (let line = 0; start < bytes.length; line++) {
    let end = bytes.indexOf(NEWLINE, start);
    if (end === -1) end = bytes.length;
    if (keyAt < start) keyAt = bytes.indexOf(ID_KEY, start);
    if (keyAt === -1) break; // no "id" in the rest of the batch
    // The first "id" followed by a colon is the key (a tag value "id" is followed by a comma).
    let hex: string | undefined;
    while (keyAt !== -1 && keyAt < end && hex === undefined) {
      hex = hexValueAfter(bytes, keyAt + ID_KEY.length, end);
      keyAt = bytes.indexOf(ID_KEY, keyAt + 1);
    }
    if (hex !== undefined && id.write(hex, 'hex') === 32 && stored.has(id)) {
      (hints ??= new Map()).set(line, hex);
    }
    start = end + 1;
  }
  return hints;
}

/** The 64 characters of `: "…"` at `pos` (JSON whitespace allowed around the colon). */
function hexValueAfter(bytes: Buffer, pos: number, end: number): string | undefined {
  pos = skipSpace(bytes, pos, end);
  if (bytes[pos] !== COLON) return undefined;
  pos = skipSpace(bytes, pos + 1, end);
  if (bytes[pos] !== QUOTE || pos + HEX_LENGTH + 1 >= end || bytes[pos + HEX_LENGTH + 1] !== QUOTE) return undefined;
  return bytes.toString('latin1', pos + 1, pos + 1 + HEX_LENGTH); // hex or not: the caller decodes it
}

function skipSpace(bytes: Buffer, pos: number, end: number): number {
  while (pos < end && (bytes[pos] === 0x20 || bytes[pos] === 0x09 || bytes[pos] === 0x0d)) pos++;
  return pos;
}
