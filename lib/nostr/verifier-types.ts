/** What a Schnorr (BIP-340) verifier is, whichever library does the work. */
export type VerifierKind = 'native' | 'wasm';

export interface Verifier {
  readonly kind: VerifierKind;
  /**
   * True when `sig64` is a valid BIP-340 signature of `message32` (a Nostr event's id) by the
   * x-only `pubkey32`. Any other length, a pubkey off the curve or a bad signature: false.
   */
  verify(message32: Uint8Array, pubkey32: Uint8Array, sig64: Uint8Array): boolean;
}
