/**
 * The duplicate rule, in one place. The first copy of an event (by id) in input order is stored;
 * every later copy is a duplicate, whatever its spelling, and so is a copy with a bad signature
 * (it names an event that is stored). The rule runs in three steps on two threads:
 * 1. main thread, before a batch goes to a worker (`storedIdHints`): each line's id is read from
 *    its text, without parsing, and the lines whose id is already stored are noted. A verify
 *    (~175 us with WASM) costs about 3 times all the rest of an event's work, and dumps merged
 *    from several relays repeat most events.
 * 2. worker (`isKnownCopy`): a line whose parsed (and, unless turned off, hash-checked) id is
 *    hinted, or was verified earlier in the same batch, skips the signature check and counts as a
 *    duplicate. A hint alone stores or rejects nothing.
 * 3. main thread, taking results back in input order (`takeStoredCopies`, then `IdSet.add` per
 *    event): bad-signature lines whose id is stored count as duplicates, and an event is stored
 *    only if its id is new. So the files and every count are the same for any -j and batch size.
 */
import type { LineRejection } from './batch.ts';
import type { IdSet } from './id-set.ts';

/** Index of the line in its batch (from 0) -> the id read from it, already in the set. */
export type StoredIdHints = Map<number, string>;

const NEWLINE = 0x0a;
const QUOTE = 0x22;
const COLON = 0x3a;
const ID_KEY = Buffer.from('"id"');
const HEX_LENGTH = 64;

/** The lines of `bytes` (JSONL) whose "id" is in `stored`; undefined when there are none. */
export function storedIdHints(bytes: Buffer, stored: IdSet): StoredIdHints | undefined {
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

/** Step 2: true when the line's event is a copy of one whose signature was checked already. */
export function isKnownCopy(hints: StoredIdHints | undefined, lineIndex: number, id: string, verifiedInBatch: Set<string>): boolean {
  return hints?.get(lineIndex) === id || verifiedInBatch.has(id);
}

/** Step 3: the rejections less the bad-signature copies of stored events, and how many those were. */
export function takeStoredCopies(rejects: LineRejection[], stored: IdSet): { rejects: LineRejection[]; copies: number } {
  const kept = rejects.filter((x) => !(x.reason === 'bad_signature' && x.id !== undefined && stored.has(Buffer.from(x.id, 'hex'))));
  return { rejects: kept, copies: rejects.length - kept.length };
}
