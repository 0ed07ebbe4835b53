/**
 * Interop with an implementation that is not ours and needs no system package: the buf CLI
 * (from npm) compiles proto/nostr.proto, and @bufbuild/protobuf decodes the messages of the
 * day files that convert.ts writes from the real sample. The gzip members and the
 * varint-length framing are read here by hand, not through lib/ or protobufjs.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import test from 'node:test';
import zlib from 'node:zlib';
import { createFileRegistry, fromBinary, type DescMessage, type Message } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { PROTO_PATH } from '../../lib/paths.ts';
import { REAL_SAMPLE, convertOk, realSampleLines, tempDir } from '../helpers/common.ts';

type TagValue = string | number | boolean | null;
interface InputEvent { id: string; pubkey: string; created_at: number; kind: number; tags: TagValue[][]; content: string; sig: string }
interface BufTag extends Message { values: string[]; jsonValueIndexes: number[] }
interface BufEvent extends Message { id: string; pubkey: string; createdAt: bigint; kind: number; tags: BufTag[]; content: string; sig: string }

/** nostr.ProtoEvent as the buf CLI compiles it from proto/nostr.proto. */
function protoEventByBuf(): DescMessage {
  const buf = createRequire(import.meta.url).resolve('@bufbuild/buf/bin/buf');
  const descriptorSet = execFileSync(process.execPath, [buf, 'build', path.basename(PROTO_PATH), '-o', '-#format=binpb'], {
    cwd: path.dirname(PROTO_PATH),
  });
  const message = createFileRegistry(fromBinary(FileDescriptorSetSchema, descriptorSet)).getMessage('nostr.ProtoEvent');
  assert.ok(message, 'buf compiled nostr.ProtoEvent');
  return message;
}

/** Each message of a gzip file (all its members) framed as varint(length) + bytes. */
function* delimitedMessages(file: string): Generator<Uint8Array> {
  const data = zlib.gunzipSync(fs.readFileSync(file));
  let pos = 0;
  while (pos < data.length) {
    let length = 0;
    for (let shift = 0; ; shift += 7) {
      assert.ok(pos < data.length && shift < 35, `${file}: a length varint is cut or too long at ${pos}`);
      const byte = data[pos++];
      length += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
    }
    assert.ok(pos + length <= data.length, `${file}: a message of ${length} bytes runs past the end`);
    yield data.subarray(pos, pos + length);
    pos += length;
  }
}

test('@bufbuild/protobuf, with buf compiling proto/nostr.proto, reads every field of every event of our day files', () => {
  const input = realSampleLines().map((l) => JSON.parse(l) as InputEvent);
  const dir = tempDir();
  convertOk([REAL_SAMPLE, '-o', dir, '--no-index']);
  const ProtoEvent = protoEventByBuf();

  const decoded = new Map<string, BufEvent>();
  const dayFiles = fs.readdirSync(dir).filter((f) => f.endsWith('.pb.gz'));
  assert.ok(dayFiles.length > 0);
  for (const name of dayFiles) {
    for (const bytes of delimitedMessages(path.join(dir, name))) {
      const e = fromBinary(ProtoEvent, bytes) as BufEvent;
      assert.equal(e.$unknown, undefined, `event ${e.id} carries fields that nostr.proto does not declare`);
      assert.ok(!decoded.has(e.id), `event ${e.id} stored twice`);
      decoded.set(e.id, e);
      const d = new Date(Number(e.createdAt) * 1000);
      assert.equal(name, `${d.getUTCFullYear()}_${String(d.getUTCMonth() + 1).padStart(2, '0')}_${String(d.getUTCDate()).padStart(2, '0')}.pb.gz`);
    }
  }

  assert.equal(decoded.size, input.length);
  let nonStringValues = 0;
  for (const want of input) {
    const got = decoded.get(want.id);
    assert.ok(got, `event ${want.id} is missing`);
    assert.equal(got.pubkey, want.pubkey);
    assert.equal(got.createdAt, BigInt(want.created_at));
    assert.equal(got.kind, want.kind);
    assert.equal(got.content, want.content);
    assert.equal(got.sig, want.sig);
    assert.equal(got.tags.length, want.tags.length, `event ${want.id}: tag count`);
    want.tags.forEach((tag, i) => {
      // Non-string elements are stored as their JSON text, their positions in json_value_indexes.
      const jsonIndexes = tag.flatMap((v, j) => (typeof v === 'string' ? [] : [j]));
      nonStringValues += jsonIndexes.length;
      assert.deepEqual(got.tags[i].values, tag.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))), `event ${want.id} tag ${i}`);
      assert.deepEqual(got.tags[i].jsonValueIndexes, jsonIndexes, `event ${want.id} tag ${i}: json_value_indexes`);
      assert.deepEqual(got.tags[i].values.map((v, j) => (jsonIndexes.includes(j) ? JSON.parse(v) : v)), tag);
    });
  }
  assert.ok(nonStringValues > 0, 'the sample holds tags with non-string values');
  fs.rmSync(dir, { recursive: true });
});
