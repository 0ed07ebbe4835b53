/**
 * Streams the messages of a day file: gzip (any number of members) of
 * varint(length) + ProtoEvent, as Proton Beam writes them.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import protobuf from 'protobufjs';

/** Yields each message's bytes (without the length prefix). */
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
