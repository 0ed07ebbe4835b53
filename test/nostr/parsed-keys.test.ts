// The native verifier's parsed-pubkey cache (lib/nostr/parsed-keys.ts): a key found by its first
// 30 bits is confirmed on all 32 bytes, old keys age out by generation, and verdicts never change.
import assert from 'node:assert/strict';
import test from 'node:test';
import * as secp from 'tiny-secp256k1';
import { ParsedKeys } from '../../lib/nostr/parsed-keys.ts';
import { nativeVerifier, type NativeVerifier } from '../../lib/nostr/verify-native.ts';
import { wasmVerifier } from '../../lib/nostr/verify-wasm.ts';
import { realSampleLines } from '../helpers/common.ts';

let nativeMissing: string | false = false;
try {
  nativeVerifier();
} catch (err) {
  nativeMissing = `native libsecp256k1 unavailable here (${(err as Error).message}); apt-get install libsecp256k1-1 to run these`;
}
const needsNative = { skip: nativeMissing };
const hex = (s: string) => Buffer.from(s, 'hex');

test('keys that share their first 30 bits get each their own parsed key, as a fresh parse gives it', needsNative, () => {
  const base = hex(JSON.parse(realSampleLines()[0]).pubkey);
  // The same first 30 bits (the cache's slot), other last bytes: about half of those x are on the curve.
  const variants = [...Array(256).keys()].map((b) => Buffer.concat([base.subarray(0, 31), Buffer.of(b)]))
    .filter((x) => secp.isXOnlyPoint(x));
  assert.ok(variants.length > 64, `${variants.length} variants on the curve`);
  const cached = nativeVerifier();
  for (const round of [1, 2]) {
    for (const x of variants) {
      const got = cached.keys.get(x);
      const fresh = nativeVerifier().keys.get(x); // a new cache: always parsed
      assert.ok(got && fresh, `round ${round}: ${x.toString('hex')} parses`);
      assert.deepEqual(Buffer.from(got), Buffer.from(fresh), `round ${round}: ${x.toString('hex')}`);
    }
  }
  // Each variant replaced the last in their common slot: every lookup was a parse.
  assert.equal(cached.keys.parses, 2 * variants.length);
});

test('the real events verify the same from the cache as on first sight, and a neighbour key never borrows theirs', needsNative, () => {
  const wasm = wasmVerifier();
  const native: NativeVerifier = nativeVerifier();
  const events = realSampleLines().map((l) => JSON.parse(l));
  const authors = new Set(events.map((e) => e.pubkey)).size;
  for (const round of [1, 2, 3]) {
    for (const e of events) {
      const [id, pubkey, sig] = [hex(e.id), hex(e.pubkey), hex(e.sig)];
      assert.equal(native.verify(id, pubkey, sig), true, `round ${round}: ${e.id}`);
      // the same slot, another key: false, as in WASM, right after the real key was cached
      const neighbour = Buffer.from(pubkey);
      neighbour[31] ^= 1;
      assert.equal(native.verify(id, neighbour, sig), wasm.verify(id, neighbour, sig));
      assert.equal(native.verify(id, neighbour, sig), false);
    }
  }
  assert.ok(native.keys.parses >= authors, `${native.keys.parses} parses for ${authors} authors`);
});

test('keys age out by generation: a key seen in the older one comes back, one older than both is parsed again', () => {
  const parsed: string[] = [];
  const keys = new ParsedKeys((out, x) => {
    parsed.push(String.fromCharCode(x[0]));
    out.fill(x[0]);
    return x[0] !== 0x5a; // 'Z' stands for a key off the curve
  }, 2);
  const key = (c: string) => Buffer.alloc(32, c);
  const get = (c: string) => keys.get(key(c))?.[0];
  assert.equal(get('A'), 0x41);
  assert.equal(get('B'), 0x42);
  assert.equal(get('A'), 0x41); // cached
  assert.equal(get('C'), 0x43); // newer {A, B} full: it becomes the older
  assert.equal(get('A'), 0x41); // from the older, back to the newer {C, A}
  assert.equal(get('D'), 0x44); // newer {C, A} becomes the older; {B} is dropped
  assert.equal(get('B'), 0x42); // parsed again
  assert.equal(get('Z'), undefined);
  assert.equal(get('Z'), undefined); // invalid keys are not kept
  assert.deepEqual(parsed, ['A', 'B', 'C', 'D', 'B', 'Z', 'Z']);
});

test('a cached key is a copy: the caller reusing its buffer does not change what is cached', () => {
  const keys = new ParsedKeys((out, x) => { out.fill(x[5]); return true; });
  const buffer = Buffer.alloc(32, 1);
  assert.equal(keys.get(buffer)![0], 1);
  buffer[5] = 9; // the same first 30 bits, another key
  assert.equal(keys.get(buffer)![0], 9);
  buffer[5] = 1;
  assert.equal(keys.get(buffer)![0], 1);
  assert.equal(keys.parses, 3);
});
