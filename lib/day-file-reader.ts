/**
 * Length-delimited ProtoEvent messages, as in the day files' uncompressed bytes: find the next
 * whole one, read an id without decoding the rest. lib/member-reader.ts reads the files.
 */
import protobuf from 'protobufjs';

/** The message starting at `pos`, or undefined when the buffer does not hold all of it yet. */
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
