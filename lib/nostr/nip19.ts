/**
 * Public keys and event ids as a person pastes them: 64 hex characters, or NIP-19 bech32:
 * `npub1...` / `nprofile1...` for a public key, `note1...` / `nevent1...` for an event id
 * (decoding, TLVs and checksum from nostr-tools). A profile's or event's relay hints are ignored.
 */
import { decode } from 'nostr-tools/nip19';
import { UsageError } from '../cli/errors.ts';

const ACCEPTED = { pubkey: 'npub1... or nprofile1...', id: 'note1... or nevent1...' } as const;

/** The 64 lowercase hex characters a decoded NIP-19 entity names, for the kind of key asked for. */
function keyOf(kind: 'pubkey' | 'id', entity: ReturnType<typeof decode>): string | undefined {
  if (kind === 'pubkey') {
    if (entity.type === 'npub') return entity.data;
    if (entity.type === 'nprofile') return entity.data.pubkey;
  } else {
    if (entity.type === 'note') return entity.data;
    if (entity.type === 'nevent') return entity.data.id;
  }
  return undefined;
}

/**
 * The 64 lowercase hex characters of a pubkey or id given as hex or NIP-19; a UsageError naming
 * `what` (e.g. "--author") otherwise.
 */
export function hexKey(kind: 'pubkey' | 'id', value: string, what: string): string {
  const s = value.trim().toLowerCase();
  if (/^[0-9a-f]{64}$/.test(s)) return s;
  const expected = `64 hex characters or ${ACCEPTED[kind]}`;
  if (!/^[a-z]+1[02-9ac-hj-np-z]+$/.test(s)) throw new UsageError(`${what} takes ${expected}, not '${value}'`);
  let entity: ReturnType<typeof decode>;
  try {
    entity = decode(s);
  } catch (err) {
    throw new UsageError(`${what}: '${value}' is not valid NIP-19 (${(err as Error).message})`);
  }
  const hex = keyOf(kind, entity);
  if (hex === undefined) throw new UsageError(`${what} takes ${expected}; '${value}' is a ${entity.type}`);
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new UsageError(`${what}: '${value}' does not hold a 32-byte key`);
  return hex;
}

/** A tag value of a filter: `#e` and `#q` take event ids, `#p` pubkeys, so NIP-19 forms become hex there. */
export function tagFilterValue(letter: string, value: string, what: string): string {
  const s = value.trim();
  if ((letter === 'e' || letter === 'q') && /^(note|nevent)1/i.test(s)) return hexKey('id', value, what);
  if (letter === 'p' && /^(npub|nprofile)1/i.test(s)) return hexKey('pubkey', value, what);
  return value;
}
