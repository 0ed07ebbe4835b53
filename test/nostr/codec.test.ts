import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import test from 'node:test';
import protobuf from 'protobufjs';
import { PROTO_PATH, decodeEvent, encodeDelimited, type NostrEvent } from '../../lib/nostr/codec.ts';
import { computeEventId, verifySignature } from '../../lib/nostr/validate.ts';
import { canonical, nextMessage, realSampleLines } from '../helpers/common.ts';

const real = (): NostrEvent[] => realSampleLines().map((l) => canonical(JSON.parse(l)));

function roundTrip(e: NostrEvent): NostrEvent {
  const bytes = encodeDelimited(e);
  const m = nextMessage(bytes, 0)!;
  assert.equal(m.end, bytes.length);
  return decodeEvent(m.bytes);
}

test('JSON -> protobuf -> JSON keeps every field of the 150 real events identical', () => {
  for (const e of real()) {
    const back = roundTrip(e);
    assert.deepEqual(back, e);
    assert.equal(JSON.stringify(back), JSON.stringify(e));
    assert.equal(computeEventId(back).toString('hex'), e.id);
    assert.ok(verifySignature(Buffer.from(back.id, 'hex'), back.pubkey, back.sig));
  }
});

test('non-string tag values come back with their JSON type, and Proton Beam readers see strings', () => {
  const e: NostrEvent = {
    ...real()[0],
    tags: [['R', 'pow', 0], ['x', 1.5, true, null, -7, 'str', '0']],
  };
  assert.deepEqual(roundTrip(e).tags, e.tags);
  // A reader that knows only Proton Beam's schema (Tag.values) sees the JSON text.
  const plain = protobuf.parse(`syntax = "proto3"; package nostr;
    message ProtoEvent { string id = 1; string pubkey = 2; int64 created_at = 3; int32 kind = 4; repeated Tag tags = 5; string content = 6; string sig = 7; }
    message Tag { repeated string values = 1; }`).root.lookupType('nostr.ProtoEvent');
  const bytes = encodeDelimited(e);
  const m = nextMessage(bytes, 0)!;
  const old = plain.toObject(plain.decode(m.bytes)) as { tags: { values: string[] }[] };
  assert.deepEqual(old.tags.map((t) => t.values), [['R', 'pow', '0'], ['x', '1.5', 'true', 'null', '-7', 'str', '0']]);
});

// CI installs protoc and sets REQUIRE_PROTOC=1 (.ci/run), so there a missing protoc fails the test.
// Elsewhere it is skipped with the reason printed; interop-bufbuild.test.ts needs only npm.
const protocMissing = !process.env.REQUIRE_PROTOC && spawnSync('protoc', ['--version']).error !== undefined;

test('protoc, an independent reader, decodes our messages', {
  skip: protocMissing && 'protoc is not installed (apt-get install protobuf-compiler); interop-bufbuild.test.ts still checks interop',
}, () => {
  const events = real();
  for (const e of [events[0], events.find((x) => x.tags.some((t) => t.some((v) => typeof v === 'number')))!]) {
    const m = nextMessage(encodeDelimited(e), 0)!;
    const text = execFileSync('protoc', ['--decode=nostr.ProtoEvent', `--proto_path=${PROTO_PATH.replace(/\/[^/]+$/, '')}`, PROTO_PATH], {
      input: m.bytes,
      encoding: 'utf8',
    });
    assert.match(text, new RegExp(`^id: "${e.id}"$`, 'm'));
    assert.match(text, new RegExp(`^pubkey: "${e.pubkey}"$`, 'm'));
    assert.match(text, new RegExp(`^created_at: ${e.created_at}$`, 'm'));
    assert.match(text, new RegExp(`^kind: ${e.kind}$`, 'm'));
    assert.match(text, new RegExp(`^sig: "${e.sig}"$`, 'm'));
    assert.equal((text.match(/^tags \{$/gm) ?? []).length, e.tags.length);
  }
});
