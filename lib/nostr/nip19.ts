/**
 * Public keys and event ids as a person pastes them: 64 hex characters, or NIP-19's bech32
 * `npub1...` (a public key) and `note1...` (an event id). Bech32 decoding and its checksum
 * come from @scure/base.
 */
import { bech32 } from '@scure/base';
import { UsageError } from '../cli/errors.ts';

const PREFIX = { pubkey: 'npub', id: 'note' } as const;

/**
 * The 64 lowercase hex characters of a pubkey or id given as hex or as npub/note; a UsageError
 * naming `what` (e.g. "--author") otherwise.
 */
export function hexKey(kind: 'pubkey' | 'id', value: string, what: string): string {
  const s = value.trim().toLowerCase();
  if (/^[0-9a-f]{64}$/.test(s)) return s;
  const want = PREFIX[kind];
  const expected = `64 hex characters or ${want}1...`;
  if (!/^[a-z]+1[02-9ac-hj-np-z]+$/.test(s)) throw new UsageError(`${what} takes ${expected}, not '${value}'`);
  let decoded;
  try {
    decoded = bech32.decode(s as `${string}1${string}`, 1000);
  } catch (err) {
    throw new UsageError(`${what}: '${value}' is not valid bech32 (${(err as Error).message})`);
  }
  if (decoded.prefix !== want) throw new UsageError(`${what} takes ${expected}; '${value}' is a ${decoded.prefix}`);
  const bytes = bech32.fromWords(decoded.words);
  if (bytes.length !== 32) throw new UsageError(`${what}: '${value}' holds ${bytes.length} bytes, not 32`);
  return Buffer.from(bytes).toString('hex');
}

/** A tag value of a filter: `#e` and `#q` take event ids, `#p` pubkeys, so note/npub become hex there. */
export function tagFilterValue(letter: string, value: string, what: string): string {
  if ((letter === 'e' || letter === 'q') && /^note1/i.test(value.trim())) return hexKey('id', value, what);
  if (letter === 'p' && /^npub1/i.test(value.trim())) return hexKey('pubkey', value, what);
  return value;
}
