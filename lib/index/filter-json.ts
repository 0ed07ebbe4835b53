/**
 * A NIP-01 filter given as JSON (`--filter '{"kinds":[1],"authors":[...],"#e":[...]}'`) as an
 * EventFilter. Ids and authors may be hex or NIP-19 (note/npub); `#x` keys take single letters.
 * Keys NIP-01 does not define are refused rather than ignored, so a typo cannot widen a query.
 */
import { UsageError } from '../cli/errors.ts';
import { hexKey, tagFilterValue } from '../nostr/nip19.ts';
import type { EventFilter } from './query.ts';

const MAX_TIME = 253402300799;

export function parseFilterJson(text: string): EventFilter {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--filter is not JSON: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError('--filter takes a JSON object, e.g. {"kinds":[1]}');
  const f: EventFilter = {};
  const strings = (key: string, v: unknown): string[] => {
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new UsageError(`--filter: "${key}" takes an array of strings`);
    return v as string[];
  };
  const int = (key: string, v: unknown, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new UsageError(`--filter: "${key}" takes a whole number from 0 to ${max}`);
    return v;
  };
  for (const [key, v] of Object.entries(raw)) {
    if (key === 'ids') f.ids = strings(key, v).map((s) => hexKey('id', s, '--filter "ids"'));
    else if (key === 'authors') f.authors = strings(key, v).map((s) => hexKey('pubkey', s, '--filter "authors"'));
    else if (key === 'kinds') {
      if (!Array.isArray(v)) throw new UsageError('--filter: "kinds" takes an array of numbers');
      f.kinds = v.map((k) => int('kinds', k, 2147483647));
    } else if (key === 'since') f.since = int(key, v, MAX_TIME);
    else if (key === 'until') f.until = int(key, v, MAX_TIME);
    else if (key === 'limit') f.limit = int(key, v, Number.MAX_SAFE_INTEGER);
    else if (/^#[a-zA-Z]$/.test(key)) (f.tags ??= {})[key[1]] = strings(key, v).map((s) => tagFilterValue(key[1], s, `--filter "${key}"`));
    else throw new UsageError(`--filter: unknown key "${key}" (NIP-01 filters have ids, authors, kinds, #<letter>, since, until, limit)`);
  }
  return f;
}
