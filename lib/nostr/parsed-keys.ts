/**
 * Parsed x-only pubkeys (libsecp256k1's 64-byte `secp256k1_xonly_pubkey`) kept per verifier, so
 * an author seen lately is not parsed again: parsing lifts x to the curve (a square root), ~4.5 us
 * of the ~37 us a native check costs here (docs/BENCHMARKS.md), and archives hold many events per
 * author.
 *
 * Keys are found by their first 30 bits (a small integer: cheap to hash) and confirmed against all
 * 32 bytes, so a clash only costs a parse. Two generations of up to `generation` keys each: when
 * the newer is full it becomes the older and the older is dropped; a key found in the older moves
 * back to the newer. Memory: at most 2 x generation x ~250 bytes.
 */
interface Entry {
  raw: Uint8Array;
  parsed: Uint8Array;
}

const PARSED_KEY_BYTES = 64; // sizeof(secp256k1_xonly_pubkey)
const DEFAULT_GENERATION = 8192;

export class ParsedKeys {
  private newer = new Map<number, Entry>();
  private older = new Map<number, Entry>();
  /** Keys parsed (not found): for tests and measurement. */
  parses = 0;

  /** `parse` writes the parsed key into `out` and says whether x is a valid key. */
  constructor(private readonly parse: (out: Uint8Array, pubkey32: Uint8Array) => boolean, private readonly generation = DEFAULT_GENERATION) {}

  /** The parsed key of `pubkey32` (32 bytes), or undefined when it is not a valid x-only key. */
  get(pubkey32: Uint8Array): Uint8Array | undefined {
    const slot = (pubkey32[0] << 22) | (pubkey32[1] << 14) | (pubkey32[2] << 6) | (pubkey32[3] >> 2);
    let entry = this.newer.get(slot);
    if (entry && sameKey(entry.raw, pubkey32)) return entry.parsed;
    entry = this.older.get(slot);
    if (!entry || !sameKey(entry.raw, pubkey32)) {
      const parsed = new Uint8Array(PARSED_KEY_BYTES);
      this.parses++;
      if (!this.parse(parsed, pubkey32)) return undefined; // not kept: invalid keys are rare
      entry = { raw: Uint8Array.from(pubkey32), parsed };
    }
    if (this.newer.size >= this.generation) {
      this.older = this.newer;
      this.newer = new Map();
    }
    this.newer.set(slot, entry);
    return entry.parsed;
  }
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) if (a[i] !== b[i]) return false;
  return true;
}
