import assert from 'node:assert/strict';
import test from 'node:test';
import type { NostrEvent } from '../../lib/nostr/codec.ts';
import { checkShape, computeEventId, isRejection, verifySignature, type CheckOptions, type Rejection } from '../../lib/nostr/validate.ts';
import { processBatch } from '../../lib/convert/batch.ts';
import { makeSigners, signEvent } from '../../lib/dev/synthetic.ts';
import { realSampleLines } from '../helpers/common.ts';

const ALL: CheckOptions = { validateIds: true, validateSignatures: true };

test('the id of every real event is the SHA-256 of its NIP-01 serialization, and every signature verifies', () => {
  const lines = realSampleLines();
  assert.equal(lines.length, 150);
  for (const line of lines) {
    const e = JSON.parse(line);
    assert.equal(computeEventId(e).toString('hex'), e.id);
    assert.ok(verifySignature(Buffer.from(e.id, 'hex'), e.pubkey, e.sig), e.id);
  }
});

test('id vector: a fixed event hashes to a known id (independent of our serializer)', () => {
  // sha256('[0,"' + 64 x 'a' + '",1700000000,1,[["t","x"]],"hello"]'), computed with sha256sum.
  const e = { pubkey: 'a'.repeat(64), created_at: 1700000000, kind: 1, tags: [['t', 'x']], content: 'hello' };
  assert.equal(computeEventId(e).toString('hex'), '2c4d2501936cdc80c8d56179a3f8d436f925fb74e371cee1a9f48c53f32dff7f');
  // Escapes as NIP-01 and JSON.stringify write them: quote, backslash, newline, control, raw non-ASCII.
  const tricky = { pubkey: 'a'.repeat(64), created_at: 0, kind: 0, tags: [], content: 'é"\\\n\u0001' };
  assert.equal(computeEventId(tricky).toString('hex'), '109cd6431bacc4f26e9f34eca6ff309d3357a313341b95efa04c9296d9621402');
});

test('numeric tag values are hashed as numbers, as the relays signed them', () => {
  const numeric = realSampleLines().map((l) => JSON.parse(l)).filter((e) => e.tags.some((t: unknown[]) => t.some((v) => typeof v !== 'string')));
  assert.equal(numeric.length, 9);
  for (const e of numeric) {
    assert.equal(computeEventId(e).toString('hex'), e.id);
    const stringified = { ...e, tags: e.tags.map((t: unknown[]) => t.map(String)) };
    assert.notEqual(computeEventId(stringified).toString('hex'), e.id);
  }
});

test('shape rules reject each wrong field with its own reason', () => {
  const [signer] = makeSigners(1, 1);
  const good = signEvent(signer, { created_at: 1700000000, kind: 1, tags: [['p', 'x']], content: 'hi' });
  const cases: [Record<string, unknown> | unknown, string][] = [
    [[1, 2], 'not_an_object'],
    ['text', 'not_an_object'],
    [null, 'not_an_object'],
    [{ ...good, id: good.id.toUpperCase() }, 'invalid_id'],
    [{ ...good, id: 5 }, 'invalid_id'],
    [{ ...good, pubkey: 'zz' }, 'invalid_pubkey'],
    [{ ...good, sig: good.sig.slice(2) }, 'invalid_sig'],
    [{ ...good, created_at: '1700000000' }, 'invalid_created_at'],
    [{ ...good, created_at: 1.5 }, 'invalid_created_at'],
    [{ ...good, created_at: 1e15 }, 'invalid_created_at'],
    [{ ...good, created_at: -1 }, 'invalid_created_at'],
    [{ ...good, created_at: -1700000000 }, 'invalid_created_at'],
    [{ ...good, kind: -1 }, 'invalid_kind'],
    [{ ...good, kind: 1.5 }, 'invalid_kind'],
    [{ ...good, kind: 65536 }, 'kind_out_of_range'],
    [{ ...good, kind: 2147483647 }, 'kind_out_of_range'],
    [{ ...good, kind: 2 ** 53 }, 'kind_out_of_range'],
    [{ ...good, tags: {} }, 'invalid_tags'],
    [{ ...good, tags: ['p'] }, 'invalid_tags'],
    [{ ...good, tags: [[]] }, 'empty_tag'],
    [{ ...good, tags: [['p', 'x'], []] }, 'empty_tag'],
    [{ ...good, tags: [['p', ['nested']]] }, 'invalid_tags'],
    [{ ...good, tags: [['p', { a: 1 }]] }, 'invalid_tags'],
    [{ ...good, content: 5 }, 'invalid_content'],
    [{ ...good, content: 'lone \ud800 surrogate' }, 'invalid_unicode'],
    [{ ...good, tags: [['p', '\udfff']] }, 'invalid_unicode'],
  ];
  for (const [input, reason] of cases) {
    const r = checkShape(input);
    assert.ok(isRejection(r), `${JSON.stringify(input)?.slice(0, 80)} should be rejected`);
    assert.equal(r.reason, reason, JSON.stringify(input)?.slice(0, 80));
  }
  const ok = checkShape({ ...good, extra: 'ignored' });
  assert.ok(!isRejection(ok));
  assert.deepEqual(ok, good);
});

test('the edges of the shape rules: created_at 0, kind 65535 and one-element tags are valid', () => {
  const [signer] = makeSigners(1, 1);
  const good = signEvent(signer, { created_at: 1700000000, kind: 1, tags: [['p', 'x']], content: 'hi' });
  for (const edge of [{ created_at: 0 }, { created_at: 253402300799 }, { kind: 0 }, { kind: 65535 }, { tags: [] }, { tags: [['t']] }, { tags: [[''], ['R', 'pow', 0]] }]) {
    const e = { ...good, ...edge };
    assert.deepEqual(checkShape(e), e, JSON.stringify(edge));
  }
  assert.equal((checkShape({ ...good, created_at: 253402300800 }) as Rejection).reason, 'invalid_created_at');
});

test('kinds above 65535 are rejected (Proton Beam never stores them either; the kind flags are tested through convert)', () => {
  const [signer] = makeSigners(1, 1);
  const r = checkShape(signEvent(signer, { created_at: 1700000000, kind: 70000, tags: [], content: 'hi' }));
  assert.ok(isRejection(r));
  assert.equal(r.reason, 'kind_out_of_range');
  assert.equal(r.detail, 'kind 70000 is above 65535');
});

/** The checks as the converter's workers run them (lib/convert/batch.ts): one line in; its rejection, if any. */
function checkIdAndSignature(e: NostrEvent, opts: CheckOptions): string | undefined {
  const r = processBatch(0, 1, Buffer.from(JSON.stringify(e)), opts);
  assert.equal(r.count + r.rejects.length, 1);
  return r.rejects[0]?.reason;
}

test('id and signature checks catch edits and forgeries, and can be switched off', () => {
  const [a, b] = makeSigners(2, 2);
  const good = signEvent(a, { created_at: 1700000000, kind: 1, tags: [], content: 'original' });
  assert.equal(checkIdAndSignature(good, ALL), undefined);
  const edited = { ...good, content: 'edited' };
  assert.equal(checkIdAndSignature(edited, ALL), 'id_mismatch');
  assert.equal(checkIdAndSignature(edited, { ...ALL, validateIds: false }), undefined);
  const otherKey = { ...good, pubkey: b.pubkey };
  const forged = { ...otherKey, id: computeEventId(otherKey).toString('hex') };
  assert.equal(checkIdAndSignature(forged, ALL), 'bad_signature');
  assert.equal(checkIdAndSignature(forged, { ...ALL, validateSignatures: false }), undefined);
  // A pubkey that is not a point on the curve is a bad signature, not a crash.
  const offCurve = { ...good, pubkey: 'f'.repeat(64) };
  assert.equal(checkIdAndSignature({ ...offCurve, id: computeEventId(offCurve).toString('hex') }, ALL), 'bad_signature');
});
