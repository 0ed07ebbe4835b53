/**
 * The fields the index needs (id, pubkey, created_at, kind), read straight from an encoded
 * ProtoEvent without decoding tags and content, and a strict check that the bytes are a
 * ProtoEvent of a Nostr event at all: every field has the wire type of proto/nostr.proto, and
 * id and pubkey are 64 hex characters. Bytes that are not protobuf fail here with a reason.
 * And the id alone, as bytes, for dedup.
 */
import protobuf from 'protobufjs';

export interface IndexFields {
  id: string;
  pubkey: string;
  createdAt: number;
  kind: number;
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;
/** Wire type of each field of ProtoEvent. */
const WIRE_TYPES = [-1, LEN, LEN, VARINT, VARINT, LEN, LEN, LEN];

export class NotAnEventError extends Error {}

/** The position after the varint last read by `varint` (no tuple allocated per varint). */
let after = 0;

/** Reads a varint at `pos` of `buf`: its value (exact up to 2^53); the position after it goes to `after`. */
function varint(buf: Buffer, pos: number, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new NotAnEventError('a varint runs past the end of the message');
    const b = buf[pos++];
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      after = pos;
      return value;
    }
    scale *= 128;
  }
  throw new NotAnEventError('a varint longer than 10 bytes');
}

/** The position after a field of wire type `wire` whose value starts at `pos` (skipped unread). */
function skipValue(buf: Buffer, pos: number, end: number, wire: number): number {
  switch (wire) {
    case VARINT: varint(buf, pos, end); return after;
    case LEN: return varint(buf, pos, end) + after;
    case I64: return pos + 8;
    case I32: return pos + 4;
    default: throw new NotAnEventError(`wire type ${wire}`);
  }
}

/** Two's complement of a 64-bit varint's value, for the negative numbers int64 allows. */
const asInt64 = (v: number): number => (v >= 2 ** 63 ? v - 2 ** 64 : v);
/** int32 fields hold the low 32 bits of a sign-extended varint. */
const asInt32 = (v: number): number => (v % 2 ** 32) | 0;

/** Is buf[start, start + 64) 64 lowercase hex digits? */
function isHex64(buf: Buffer, start: number, length: number): boolean {
  if (length !== 64) return false;
  for (let i = start; i < start + 64; i++) {
    const c = buf[i];
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** The index fields of the message in buf[start, end). */
export function readIndexFields(buf: Buffer, start = 0, end = buf.length): IndexFields {
  let id: string | undefined;
  let pubkey: string | undefined;
  let createdAt = 0;
  let kind = 0;
  let pos = start;
  while (pos < end) {
    const key = varint(buf, pos, end);
    pos = after;
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (field === 0) throw new NotAnEventError('field number 0');
    if (field < WIRE_TYPES.length && WIRE_TYPES[field] !== wire) throw new NotAnEventError(`field ${field} has wire type ${wire}`);
    if (wire === VARINT) {
      const v = varint(buf, pos, end);
      pos = after;
      if (field === 3) createdAt = asInt64(v);
      else if (field === 4) kind = asInt32(v);
    } else if (wire === LEN) {
      const length = varint(buf, pos, end);
      pos = after;
      if (pos + length > end) throw new NotAnEventError(`field ${field} runs past the end of the message`);
      if (field === 1) {
        if (!isHex64(buf, pos, length)) throw new NotAnEventError('the id is not 64 hex characters');
        id = buf.toString('latin1', pos, pos + length);
      } else if (field === 2) {
        if (!isHex64(buf, pos, length)) throw new NotAnEventError('the pubkey is not 64 hex characters');
        pubkey = buf.toString('latin1', pos, pos + length);
      }
      pos += length;
    } else {
      pos = skipValue(buf, pos, end, wire);
    }
  }
  if (pos > end) throw new NotAnEventError('a field runs past the end of the message');
  if (id === undefined) throw new NotAnEventError('no id');
  if (pubkey === undefined) throw new NotAnEventError('no pubkey');
  return { id, pubkey, createdAt, kind };
}

/** The id (field 1) of an encoded ProtoEvent as 32 bytes, without decoding the rest. */
export function messageId(message: Uint8Array): Buffer {
  const reader = protobuf.Reader.create(message);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag === 0x0a) return Buffer.from(reader.string(), 'hex');
    reader.skipType(tag & 7);
  }
  throw new Error('message has no id');
}

/**
 * The single-letter tags of the message in buf[start, end) (the ones NIP-01 filters can
 * match: `#e`, `#p`, ...): `found(name, value)` for each with a second element, its first
 * value. Tag elements are read straight from the bytes; content and other tags are skipped.
 * The message must have passed `readIndexFields` (wire types are trusted here).
 */
export function readFilterTags(buf: Buffer, start: number, end: number, found: (name: string, value: string) => void): void {
  let pos = start;
  while (pos < end) {
    const key = varint(buf, pos, end);
    pos = after;
    if (key === 0x2a) {
      const length = varint(buf, pos, end);
      pos = after;
      readTag(buf, pos, pos + length, found); // it reads varints too: `after` is its own then
      pos += length;
    } else {
      pos = skipValue(buf, pos, end, key & 7);
    }
  }
}

/** One Tag message: its name when it is one letter, and its first value. */
function readTag(buf: Buffer, start: number, end: number, found: (name: string, value: string) => void): void {
  let pos = start;
  let name: string | undefined;
  while (pos < end) {
    const key = varint(buf, pos, end);
    pos = after;
    if (key === 0x0a) {
      const length = varint(buf, pos, end);
      pos = after;
      if (pos + length > end) throw new NotAnEventError('a tag value runs past the end of its tag');
      if (name === undefined) {
        if (length !== 1) return;
        const c = buf[pos];
        if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))) return;
        name = String.fromCharCode(c);
      } else {
        found(name, buf.toString('utf8', pos, pos + length));
        return;
      }
      pos += length;
    } else {
      pos = skipValue(buf, pos, end, key & 7);
    }
  }
}
