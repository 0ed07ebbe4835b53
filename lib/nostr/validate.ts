/**
 * NIP-01 validation of one parsed line: shape, event id (SHA-256 of the canonical
 * serialization) and BIP-340 Schnorr signature. Returns the event, or why it was rejected.
 */
import { createHash, hash } from 'node:crypto';
import type { NostrEvent } from './codec.ts';
import type { Verifier } from './verifier-types.ts';
import { wasmVerifier } from './verify-wasm.ts';

/**
 * Which checks run. Kinds above 65535 are always rejected (`kind_out_of_range`): Proton Beam's
 * --filter-invalid-kinds / --no-filter-kinds only choose where it drops them (a text pre-filter
 * or its parser), so scripts/convert.ts accepts those flags and nothing here depends on them.
 */
export interface CheckOptions {
  validateIds: boolean;
  validateSignatures: boolean;
}

/** Why a line was not stored. The names appear in the summary and in proton-beam.log. */
export type RejectReason =
  | 'blank_line'
  | 'invalid_json'
  | 'not_an_object'
  | 'invalid_id'
  | 'invalid_pubkey'
  | 'invalid_sig'
  | 'invalid_created_at'
  | 'invalid_kind'
  | 'kind_out_of_range'
  | 'invalid_tags'
  | 'empty_tag'
  | 'invalid_content'
  | 'invalid_utf8'
  | 'invalid_unicode'
  | 'id_mismatch'
  | 'bad_signature'
  | 'line_too_long'
  | 'internal_error';

export interface Rejection {
  reason: RejectReason;
  detail: string;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX128 = /^[0-9a-f]{128}$/;
/** NIP-01 kinds are 0..65535 (Proton Beam and the Rust nostr crate hold them in a u16). */
const MAX_KIND = 65535;
/** created_at is a Unix time, not negative (as Proton Beam checks); day files are named YYYY_MM_DD, so years up to 9999. */
export const MAX_CREATED_AT = 253402300799;

const reject = (reason: RejectReason, detail: string): Rejection => ({ reason, detail });

declare global {
  interface String { isWellFormed(): boolean }
}

function isTagValue(v: unknown): boolean {
  const t = typeof v;
  return t === 'string' || (t === 'number' && Number.isFinite(v)) || t === 'boolean' || v === null;
}

/** Checks every field but the id hash and the signature. */
export function checkShape(obj: unknown): NostrEvent | Rejection {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return reject('not_an_object', `a JSON ${obj === null ? 'null' : Array.isArray(obj) ? 'array' : typeof obj}`);
  }
  const e = obj as Record<string, unknown>;
  const { id, pubkey, sig, created_at, kind, tags, content } = e;
  if (typeof id !== 'string' || !HEX64.test(id)) return reject('invalid_id', 'id must be 64 lowercase hex characters');
  if (typeof pubkey !== 'string' || !HEX64.test(pubkey)) return reject('invalid_pubkey', 'pubkey must be 64 lowercase hex characters');
  if (typeof sig !== 'string' || !HEX128.test(sig)) return reject('invalid_sig', 'sig must be 128 lowercase hex characters');
  if (typeof created_at !== 'number' || !Number.isInteger(created_at)) return reject('invalid_created_at', 'created_at must be an integer');
  if (created_at < 0) return reject('invalid_created_at', `created_at ${created_at} is negative`);
  if (created_at > MAX_CREATED_AT) return reject('invalid_created_at', `created_at ${created_at} is after year 9999`);
  if (typeof kind !== 'number' || !Number.isInteger(kind) || kind < 0) return reject('invalid_kind', 'kind must be a non-negative integer');
  if (kind > MAX_KIND) return reject('kind_out_of_range', `kind ${kind} is above ${MAX_KIND}`);
  if (typeof content !== 'string') return reject('invalid_content', 'content must be a string');
  if (!content.isWellFormed()) return reject('invalid_unicode', 'content holds a lone UTF-16 surrogate');
  if (!Array.isArray(tags)) return reject('invalid_tags', 'tags must be an array');
  for (let i = 0; i < tags.length; i++) {
    const tag = tags[i];
    if (!Array.isArray(tag)) return reject('invalid_tags', `tag ${i} is not an array`);
    if (tag.length === 0) return reject('empty_tag', `tag ${i} is empty (NIP-01: one or more strings)`);
    for (let j = 0; j < tag.length; j++) {
      const v = tag[j];
      if (!isTagValue(v)) return reject('invalid_tags', `tag ${i} element ${j} is not a string or JSON scalar`);
      if (typeof v === 'string' && !v.isWellFormed()) return reject('invalid_unicode', `tag ${i} element ${j} holds a lone UTF-16 surrogate`);
    }
  }
  return { id, pubkey, created_at, kind, tags: tags as NostrEvent['tags'], content, sig };
}

type IdFields = Pick<NostrEvent, 'pubkey' | 'created_at' | 'kind' | 'tags' | 'content'>;
const serialize = (e: IdFields): string => JSON.stringify([0, e.pubkey, e.created_at, e.kind, e.tags, e.content]);

/** SHA-256 of the NIP-01 serialization [0, pubkey, created_at, kind, tags, content]. */
export function computeEventId(e: IdFields): Buffer {
  return createHash('sha256').update(serialize(e)).digest();
}

/** The same as lowercase hex; the one-shot hash is ~40 % cheaper than a Hash object per event. */
export const computeEventIdHex = (e: IdFields): string => hash('sha256', serialize(e), 'hex');

let defaultVerifier: Verifier | undefined;

/** Hex in, for tests and tools; the converter's hot path (lib/convert/batch.ts) passes bytes it already holds. */
export function verifySignature(idBytes: Uint8Array, pubkeyHex: string, sigHex: string, verifier?: Verifier): boolean {
  const v = verifier ?? (defaultVerifier ??= wasmVerifier());
  return v.verify(idBytes, Buffer.from(pubkeyHex, 'hex'), Buffer.from(sigHex, 'hex'));
}

export const BAD_SIGNATURE = 'Schnorr signature does not verify';

export function isRejection(r: NostrEvent | Rejection): r is Rejection {
  return (r as Rejection).reason !== undefined;
}

/** The id check alone: undefined when the id is the hash of the event (or ids are not checked). */
export function checkId(event: NostrEvent, opts: CheckOptions): Rejection | undefined {
  if (opts.validateIds && computeEventIdHex(event) !== event.id) {
    return reject('id_mismatch', 'id is not the SHA-256 of the event');
  }
  return undefined;
}
