/**
 * Unsigned random events for index benchmarks and tests: random ids and pubkeys (so they are
 * not valid signatures), realistic sizes and kinds, from a seed. Signing is ~2k events/s;
 * these come at hundreds of thousands a second, for data that never goes through validation.
 */
import { seededRandom } from './synthetic.ts';
import type { NostrEvent } from '../nostr/codec.ts';

export interface RandomEventOptions {
  seed: number;
  count: number;
  /** created_at spans `days` days from `start`. */
  start?: number;
  days?: number;
  authors?: number;
}

const KINDS = [1, 1, 1, 1, 1, 7, 7, 7, 6, 0, 3, 30023, 9735, 1984];
const WORDS = 'nostr relay zap note bitcoin lightning protocol client key sign event tag follow pubkey wallet gm coffee ☕ 🚀 café'.split(' ');

export function* randomEvents(opts: RandomEventOptions): Generator<NostrEvent> {
  const rand = seededRandom(opts.seed);
  const bytes = Buffer.alloc(64);
  const hex = (chars: number) => {
    for (let i = 0; i < chars / 2; i++) bytes[i] = (rand() * 256) | 0;
    return bytes.toString('hex', 0, chars / 2); // a flat string (not a rope of concatenations)
  };
  const authors = Array.from({ length: opts.authors ?? 10_000 }, () => hex(64));
  const start = opts.start ?? 1735689600;
  const span = (opts.days ?? 30) * 86400;
  for (let i = 0; i < opts.count; i++) {
    const kind = KINDS[(rand() * KINDS.length) | 0];
    const words = 5 + ((rand() * 60) | 0);
    let content = '';
    for (let w = 0; w < words; w++) content += (w ? ' ' : '') + WORDS[(rand() * WORDS.length) | 0];
    const tags = kind === 1 || kind === 7 ? [['e', hex(64)], ['p', authors[(rand() * authors.length) | 0]]] : [];
    yield {
      id: hex(64),
      pubkey: authors[(rand() * authors.length) | 0],
      created_at: start + Math.floor(rand() * span),
      kind,
      tags,
      content,
      sig: hex(128),
    };
  }
}
