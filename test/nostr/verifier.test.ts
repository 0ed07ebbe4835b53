// The two Schnorr verifiers (lib/nostr/verify-native.ts, verify-wasm.ts) give the same verdict on
// every input: the official BIP-340 test vectors, the real events, flipped bits, pubkeys off the
// curve, random garbage. The native tests skip, saying why, where the system library is missing.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import * as secp from 'tiny-secp256k1';
import { makeSigners, seededRandom, signEvent } from '../../lib/dev/synthetic.ts';
import { FatalError } from '../../lib/cli/errors.ts';
import { makeVerifier, resolveVerifier, selfTestFailure, type Verifier } from '../../lib/nostr/verifier.ts';
import { LIBRARY_ENV, nativeVerifier } from '../../lib/nostr/verify-native.ts';
import { wasmVerifier } from '../../lib/nostr/verify-wasm.ts';
import { ROOT, realSampleLines } from '../helpers/common.ts';

const wasm = wasmVerifier();
let native: Verifier | undefined;
let nativeMissing: string | false = false;
try {
  native = makeVerifier('native');
} catch (err) {
  nativeMissing = `native libsecp256k1 unavailable here (${(err as Error).message}); apt-get install libsecp256k1-1 to run these`;
}
const needsNative = { skip: nativeMissing };

interface Case { pubkey: Uint8Array; message: Uint8Array; sig: Uint8Array; name: string }

/** Both verifiers on `c`; fails naming the case when they disagree. Returns the common verdict. */
function sameVerdict(c: Case): boolean {
  const w = wasm.verify(c.message, c.pubkey, c.sig);
  const n = native!.verify(c.message, c.pubkey, c.sig);
  assert.equal(n, w, `${c.name}: native ${n}, wasm ${w}`);
  return n;
}

// bip-0340/test-vectors.csv of github.com/bitcoin/bips (test/fixtures/README.md).
const VECTORS = fs.readFileSync(path.join(ROOT, 'test', 'fixtures', 'bip340-test-vectors.csv'), 'utf8')
  .trim().split('\n').slice(1).map((line) => {
    const [index, , pubkey, , message, sig, result, comment] = line.split(',');
    return { index, pubkey, message, sig, valid: result === 'TRUE', comment: comment ?? '' };
  });

const hex = (s: string) => Buffer.from(s, 'hex');
const flipBit = (b: Uint8Array, bit: number) => {
  const c = Buffer.from(b);
  c[bit >> 3] ^= 1 << (bit & 7);
  return c;
};

test('the BIP-340 fixture is the official CSV: 19 vectors, valid and invalid', () => {
  assert.equal(VECTORS.length, 19);
  assert.deepEqual(VECTORS.map((v) => v.valid).filter(Boolean).length, 9);
});

test('WASM: every BIP-340 vector of a 32-byte message gets its expected verdict', () => {
  for (const v of VECTORS.filter((x) => x.message.length === 64)) {
    assert.equal(wasm.verify(hex(v.message), hex(v.pubkey), hex(v.sig)), v.valid, `vector ${v.index} (${v.comment})`);
  }
});

test('native: every BIP-340 vector of a 32-byte message gets its expected verdict, as in WASM', needsNative, () => {
  const vectors = VECTORS.filter((x) => x.message.length === 64);
  assert.equal(vectors.length, 15);
  for (const v of vectors) {
    assert.equal(sameVerdict({ message: hex(v.message), pubkey: hex(v.pubkey), sig: hex(v.sig), name: `vector ${v.index}` }), v.valid, `vector ${v.index} (${v.comment})`);
  }
});

test('vectors 15 to 18 sign messages of 0, 1, 17 and 100 bytes: a Nostr message is the 32-byte id, so both refuse them', needsNative, () => {
  const others = VECTORS.filter((x) => x.message.length !== 64);
  assert.deepEqual(others.map((v) => v.index), ['15', '16', '17', '18']);
  for (const v of others) assert.equal(sameVerdict({ message: hex(v.message), pubkey: hex(v.pubkey), sig: hex(v.sig), name: `vector ${v.index}` }), false);
});

test('native and WASM agree on the real events, and on each with one bit flipped in its sig, id or pubkey', needsNative, () => {
  const random = seededRandom(12);
  let flipped = 0;
  for (const line of realSampleLines()) {
    const e = JSON.parse(line);
    const base = { message: hex(e.id), pubkey: hex(e.pubkey), sig: hex(e.sig), name: e.id };
    assert.equal(sameVerdict(base), true);
    for (let k = 0; k < 4; k++) {
      // a bit of each field at random, and the first and last bits of each
      const sigBit = k === 0 ? 0 : k === 1 ? 511 : Math.floor(random() * 512);
      const idBit = k === 0 ? 0 : k === 1 ? 255 : Math.floor(random() * 256);
      const pubBit = k === 0 ? 0 : k === 1 ? 255 : Math.floor(random() * 256);
      assert.equal(sameVerdict({ ...base, sig: flipBit(base.sig, sigBit), name: `${e.id} sig bit ${sigBit}` }), false);
      assert.equal(sameVerdict({ ...base, message: flipBit(base.message, idBit), name: `${e.id} id bit ${idBit}` }), false);
      assert.equal(sameVerdict({ ...base, pubkey: flipBit(base.pubkey, pubBit), name: `${e.id} pubkey bit ${pubBit}` }), false);
      flipped += 3;
    }
  }
  assert.equal(flipped, 150 * 12);
});

test('native and WASM agree on freshly signed events of many keys', needsNative, () => {
  const signers = makeSigners(50, 7);
  for (let i = 0; i < 200; i++) {
    const e = signEvent(signers[i % signers.length], { created_at: 1700000000 + i, kind: 1, tags: [], content: `note ${i}` });
    assert.equal(sameVerdict({ message: hex(e.id), pubkey: hex(e.pubkey), sig: hex(e.sig), name: `signed ${i}` }), true);
  }
});

test('pubkeys that are not on the curve, or not below the field size, verify in neither', needsNative, () => {
  const real = JSON.parse(realSampleLines()[0]);
  const random = seededRandom(99);
  let offCurve = 0;
  // About half of all x have no point on the curve: random x, sorted by tiny-secp256k1's own
  // isXOnlyPoint (an independent judge), until 100 off the curve have been tried.
  for (let i = 0; offCurve < 100 && i < 10_000; i++) {
    const x = Buffer.alloc(32);
    for (let j = 0; j < 32; j++) x[j] = Math.floor(random() * 256);
    assert.equal(sameVerdict({ message: hex(real.id), pubkey: x, sig: hex(real.sig), name: `random x ${x.toString('hex')}` }), false);
    if (!secp.isXOnlyPoint(x)) offCurve++;
  }
  assert.equal(offCurve, 100);
  for (const p of ['ff'.repeat(32), 'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F', '00'.repeat(32),
    'EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34']) {
    assert.equal(sameVerdict({ message: hex(real.id), pubkey: hex(p), sig: hex(real.sig), name: `pubkey ${p}` }), false);
  }
});

test('random garbage and wrong lengths: false from both, never a throw or a crash', needsNative, () => {
  const random = seededRandom(2026);
  const bytes = (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
    return b;
  };
  for (let i = 0; i < 2000; i++) {
    assert.equal(sameVerdict({ message: bytes(32), pubkey: bytes(32), sig: bytes(64), name: `garbage ${i}` }), false);
  }
  const real = JSON.parse(realSampleLines()[0]);
  const good = { message: hex(real.id), pubkey: hex(real.pubkey), sig: hex(real.sig) };
  for (const n of [0, 1, 31, 33, 63, 65, 128]) {
    assert.equal(sameVerdict({ ...good, sig: bytes(n), name: `sig of ${n} bytes` }), false);
    assert.equal(sameVerdict({ ...good, message: bytes(n), name: `message of ${n} bytes` }), false);
    assert.equal(sameVerdict({ ...good, pubkey: bytes(n), name: `pubkey of ${n} bytes` }), false);
  }
  // views into a larger buffer at an offset: the bytes verified are the view's, not the buffer's start
  const big = Buffer.concat([bytes(7), good.sig, good.message, good.pubkey]);
  const views = { sig: big.subarray(7, 71), message: big.subarray(71, 103), pubkey: big.subarray(103, 135) };
  assert.equal(sameVerdict({ ...views, name: 'subarray views' }), true);
});

test('both pass the start-up self-test', needsNative, () => {
  assert.equal(selfTestFailure(wasm), undefined);
  assert.equal(selfTestFailure(native!), undefined);
});

test('a verifier that answers wrongly fails the self-test', () => {
  assert.match(selfTestFailure({ kind: 'native', verify: () => true }) ?? '', /vector 2 gave true, expected false/);
  assert.match(selfTestFailure({ kind: 'native', verify: () => false }) ?? '', /vector 0 gave false, expected true/);
});

test('auto: native when it loads, else WASM with one line saying why and how to get native', () => {
  const saved = process.env[LIBRARY_ENV];
  try {
    process.env[LIBRARY_ENV] = path.join(ROOT, 'no-such-libsecp256k1.so');
    const r = resolveVerifier('auto');
    assert.equal(r.kind, 'wasm');
    assert.match(r.note ?? '', /^signatures: WASM verifier, native unavailable: libsecp256k1 not found \(.*no-such-libsecp256k1\.so.*\); .*apt-get install libsecp256k1-1/);
    assert.doesNotMatch(r.note!, /\n/);
    assert.throws(() => resolveVerifier('native'), (err: Error) => err instanceof FatalError && /--verifier native: libsecp256k1 not found/.test(err.message));
    assert.equal(resolveVerifier('wasm').kind, 'wasm');
  } finally {
    if (saved === undefined) delete process.env[LIBRARY_ENV];
    else process.env[LIBRARY_ENV] = saved;
  }
  if (!nativeMissing) assert.deepEqual([resolveVerifier('auto').kind, resolveVerifier('native').kind], ['native', 'native']);
});

test('a library without the schnorrsig functions is refused with its name', needsNative, () => {
  // libz is on every machine that has Node's dependencies; it loads but is not libsecp256k1.
  assert.throws(() => nativeVerifier(['libz.so.1']), /libz\.so\.1 is not a libsecp256k1 with the schnorrsig module/);
});
