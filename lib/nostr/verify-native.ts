/**
 * BIP-340 verification by the system's libsecp256k1 (Debian/Ubuntu package libsecp256k1-1 or
 * libsecp256k1-2, built with the schnorrsig module), called through koffi. 4 to 6 times the
 * rate of the WASM build on the same core (docs/BENCHMARKS.md).
 *
 * One context per thread, made when the verifier is made. Buffers go to C as pointers into their
 * own memory (koffi passes a Uint8Array without copying it). Parsed pubkeys are kept for the
 * authors seen lately (lib/nostr/parsed-keys.ts), so most events cost one C call and no allocation.
 */
import { openLibrary } from '../native/library.ts';
import { ParsedKeys } from './parsed-keys.ts';
import type { Verifier } from './verifier-types.ts';

/** Sonames tried in turn: the newest ABI first, then the unversioned name of a -dev package. */
export const LIBRARY_NAMES = ['libsecp256k1.so.2', 'libsecp256k1.so.1', 'libsecp256k1.so'];
/** A library file of one's own choosing (a build in an odd place) replaces the names above. */
export const LIBRARY_ENV = 'PROTON_BEAM_LIBSECP256K1';
const SECP256K1_CONTEXT_VERIFY = 0x0101; // SECP256K1_FLAGS_TYPE_CONTEXT | SECP256K1_FLAGS_BIT_CONTEXT_VERIFY

export interface NativeVerifier extends Verifier {
  /** The library file that was loaded. */
  readonly library: string;
  /** The authors' keys parsed lately. */
  readonly keys: ParsedKeys;
}

/** Throws when koffi, the library or one of its functions cannot be had. */
export function nativeVerifier(names: readonly string[] = process.env[LIBRARY_ENV] ? [process.env[LIBRARY_ENV]] : LIBRARY_NAMES): NativeVerifier {
  const { lib, name } = openLibrary('libsecp256k1', names);
  let contextCreate, xonlyParse, schnorrVerify;
  try {
    contextCreate = lib.func('void *secp256k1_context_create(unsigned int flags)');
    xonlyParse = lib.func('int secp256k1_xonly_pubkey_parse(void *ctx, uint8_t *pubkey, const uint8_t *input32)');
    schnorrVerify = lib.func('int secp256k1_schnorrsig_verify(void *ctx, const uint8_t *sig64, const uint8_t *msg, size_t msglen, const uint8_t *pubkey)');
  } catch (err) {
    throw new Error(`${name} is not a libsecp256k1 with the schnorrsig module (${String((err as Error).message).split('\n')[0]})`);
  }
  const ctx = contextCreate(SECP256K1_CONTEXT_VERIFY);
  if (!ctx) throw new Error(`${name}: secp256k1_context_create failed`);
  const keys = new ParsedKeys((out, pubkey32) => xonlyParse(ctx, out, pubkey32) === 1);
  return {
    kind: 'native',
    library: name,
    keys,
    verify(message32, pubkey32, sig64) {
      // C reads fixed lengths from these pointers: a shorter buffer must never reach it.
      if (message32.length !== 32 || pubkey32.length !== 32 || sig64.length !== 64) return false;
      const parsed = keys.get(pubkey32);
      if (!parsed) return false; // x not on the curve, or >= p
      return schnorrVerify(ctx, sig64, message32, 32, parsed) === 1;
    },
  };
}
