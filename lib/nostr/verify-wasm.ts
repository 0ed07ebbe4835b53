/** BIP-340 verification by libsecp256k1 compiled to WebAssembly (tiny-secp256k1): runs anywhere. */
import * as secp from 'tiny-secp256k1';
import type { Verifier } from './verifier-types.ts';

export function wasmVerifier(): Verifier {
  return {
    kind: 'wasm',
    verify(message32, pubkey32, sig64) {
      if (message32.length !== 32 || pubkey32.length !== 32 || sig64.length !== 64) return false;
      try {
        return secp.verifySchnorr(message32, pubkey32, sig64);
      } catch {
        return false; // tiny-secp256k1 throws on a pubkey off the curve or a malformed signature
      }
    },
  };
}
