/**
 * Realistic, validly signed Nostr events from a fixed seed, for the benchmark and the shipped
 * sample: short notes with Unicode and emoji, reactions, reposts, profiles, kind-3 contact
 * lists with hundreds of tags, long-form articles. The same seed always gives the same events.
 */
import { createHash } from 'node:crypto';
import * as secp from 'tiny-secp256k1';
import type { NostrEvent, TagValue } from '../nostr/codec.ts';
import { computeEventId } from '../nostr/validate.ts';

/** A small seeded PRNG (mulberry32): reproducible corpora, not cryptography. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('nostr relay zap note bitcoin lightning freedom protocol client key sign event '
  + 'tag follow mute pubkey wallet node channel privacy censorship open source build ship '
  + 'morning coffee sunrise mountain ocean music art photo meme gm pv plebs').split(' ');
const UNICODE = ['🚀', '⚡', '🤙', '💜', '🌞', 'café', 'naïve', 'Grüße', 'こんにちは', 'Привет', 'مرحبا', '你好', '👩‍💻', 'ñ', '∑', '"quoted"', 'back\\slash', 'tab\there', 'line\nbreak'];

export interface Signer {
  secret: Uint8Array;
  pubkey: string;
}

export function makeSigners(count: number, seed: number): Signer[] {
  const signers: Signer[] = [];
  for (let i = 0; signers.length < count; i++) {
    const secret = createHash('sha256').update(`signer:${seed}:${i}`).digest();
    if (!secp.isPrivate(secret)) continue;
    signers.push({ secret, pubkey: Buffer.from(secp.xOnlyPointFromScalar(secret)).toString('hex') });
  }
  return signers;
}

export function signEvent(signer: Signer, fields: Pick<NostrEvent, 'created_at' | 'kind' | 'tags' | 'content'>): NostrEvent {
  const unsigned = { pubkey: signer.pubkey, ...fields };
  const id = computeEventId(unsigned);
  // Fixed auxiliary data keeps signatures reproducible from the seed.
  const sig = secp.signSchnorr(id, signer.secret, new Uint8Array(32));
  return { id: id.toString('hex'), ...unsigned, sig: Buffer.from(sig).toString('hex') };
}

export interface CorpusOptions {
  seed: number;
  count: number;
  signers?: number;
  /** created_at of the first day; events spread over `days` days. */
  start?: number;
  days?: number;
}

/** Yields `count` signed events. */
export function* syntheticEvents(opts: CorpusOptions): Generator<NostrEvent> {
  const rand = seededRandom(opts.seed);
  const signers = makeSigners(opts.signers ?? 200, opts.seed);
  const start = opts.start ?? 1735689600; // 2025-01-01
  const span = (opts.days ?? 30) * 86400;
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const hex = (bytes: number) => { let s = ''; for (let i = 0; i < bytes; i++) s += Math.floor(rand() * 256).toString(16).padStart(2, '0'); return s; };
  const words = (n: number) => Array.from({ length: n }, () => (rand() < 0.15 ? pick(UNICODE) : pick(WORDS))).join(' ');
  const recent: string[] = [hex(32)];

  for (let i = 0; i < opts.count; i++) {
    const signer = pick(signers);
    const created_at = start + Math.floor(rand() * span);
    const r = rand();
    let kind: number;
    let tags: TagValue[][] = [];
    let content: string;
    if (r < 0.50) {
      kind = 1;
      content = words(20 + Math.floor(rand() * 200));
      if (rand() < 0.5) tags = [['e', pick(recent), '', 'root'], ['p', pick(signers).pubkey]];
      if (rand() < 0.2) tags.push(['t', pick(WORDS)], ['client', 'synthetic']);
    } else if (r < 0.78) {
      kind = 7;
      content = pick(['+', '🤙', '⚡', '💜', '-']);
      tags = [['e', pick(recent)], ['p', pick(signers).pubkey], ['k', '1']];
    } else if (r < 0.86) {
      kind = 6;
      const inner = { id: pick(recent), pubkey: pick(signers).pubkey, kind: 1, content: words(30), tags: [], created_at, sig: hex(64) };
      content = JSON.stringify(inner);
      tags = [['e', inner.id, 'wss://relay.example.com'], ['p', inner.pubkey]];
    } else if (r < 0.93) {
      kind = 0;
      content = JSON.stringify({ name: pick(WORDS) + i, about: words(25), picture: `https://img.example.com/${hex(8)}.png`, nip05: `${pick(WORDS)}@example.com` });
    } else if (r < 0.96) {
      kind = 3;
      const n = 100 + Math.floor(rand() * 300);
      tags = Array.from({ length: n }, () => ['p', hex(32), rand() < 0.3 ? 'wss://relay.example.com' : '']);
      content = '';
    } else if (r < 0.97) {
      // Relay monitor reports (NIP-66) carry numbers in their tags, signed as numbers.
      kind = 30166;
      tags = [['d', `wss://relay${i}.example.com/`], ['rtt-open', Math.floor(rand() * 900)], ['R', 'pow', 0], ['n', 'clearnet']];
      content = '';
    } else {
      kind = 30023;
      content = Array.from({ length: 8 + Math.floor(rand() * 12) }, () => words(60)).join('\n\n');
      tags = [['d', hex(8)], ['title', words(6)], ['published_at', String(created_at)], ['t', pick(WORDS)]];
    }
    const event = signEvent(signer, { created_at, kind, tags, content });
    if (recent.length < 1000) recent.push(event.id); else recent[Math.floor(rand() * recent.length)] = event.id;
    yield event;
  }
}
