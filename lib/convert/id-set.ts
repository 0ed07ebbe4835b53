/**
 * An exact set of 32-byte event ids for billions of entries.
 *
 * V8 caps a Set or Map at 2^24 entries, and a Set of hex strings costs over 100 bytes an id.
 * Here ids live as raw bytes in fixed-size chunks, and an open-addressing table of 32-bit
 * slot numbers points into them. The table is split in 256 shards by the id's first byte so
 * that growing one shard copies only 1/256 of the table. Every probe compares all 32 bytes, so
 * a hash collision can never make two distinct ids look the same.
 *
 * Memory per unique id: 32 bytes of id plus 4 bytes of slot at a load between 3/8 and 3/4,
 * i.e. 37 to 43 bytes (plus up to 2 MiB of unfilled chunk per shard).
 */
const SHARD_COUNT = 256;
const CHUNK_IDS = 1 << 16; // ids per full chunk (2 MiB)
const CHUNK_SHIFT = 16;
const INITIAL_SLOTS = 1 << 10;
const MAX_LOAD = 0.75;
const ID_BYTES = 32;

class Shard {
  /** Slot value 0 is empty; otherwise the id's index in `chunks` plus one. */
  slots = new Uint32Array(INITIAL_SLOTS);
  mask = INITIAL_SLOTS - 1;
  chunks: Buffer[] = [Buffer.allocUnsafe(64 * ID_BYTES)];
  size = 0;

  /** The slot holding the id at ids[offset..offset+32), or, when it is not there, -1 - the free slot where it goes. */
  find(ids: Uint8Array, offset: number, hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let slot = hash & mask;
    for (;;) {
      const entry = slots[slot];
      if (entry === 0) return -1 - slot;
      if (this.equalsAt(entry - 1, ids, offset)) return slot;
      slot = (slot + 1) & mask;
    }
  }

  /** Adds the id at ids[offset..offset+32); false when it was already there. */
  add(ids: Uint8Array, offset: number, hash: number): boolean {
    const found = this.find(ids, offset, hash);
    if (found >= 0) return false;
    const slot = -1 - found;
    this.store(ids, offset);
    this.slots[slot] = this.size;
    if (this.size > this.slots.length * MAX_LOAD) this.grow();
    return true;
  }

  private equalsAt(index: number, ids: Uint8Array, offset: number): boolean {
    const chunk = this.chunks[index >>> CHUNK_SHIFT];
    const at = (index & (CHUNK_IDS - 1)) * ID_BYTES;
    for (let i = 0; i < ID_BYTES; i++) if (chunk[at + i] !== ids[offset + i]) return false;
    return true;
  }

  private store(ids: Uint8Array, offset: number): void {
    const index = this.size++;
    const c = index >>> CHUNK_SHIFT;
    const at = (index & (CHUNK_IDS - 1)) * ID_BYTES;
    if (c === this.chunks.length) this.chunks.push(Buffer.allocUnsafe(CHUNK_IDS * ID_BYTES));
    let chunk = this.chunks[c];
    if (at + ID_BYTES > chunk.length) {
      // The first chunk starts small and doubles up to a full chunk.
      const bigger = Buffer.allocUnsafe(Math.min(chunk.length * 2, CHUNK_IDS * ID_BYTES));
      chunk.copy(bigger);
      chunk = this.chunks[c] = bigger;
    }
    chunk.set(ids.subarray(offset, offset + ID_BYTES), at);
  }

  private grow(): void {
    const slots = new Uint32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let index = 0; index < this.size; index++) {
      const chunk = this.chunks[index >>> CHUNK_SHIFT];
      let slot = hashAt(chunk, (index & (CHUNK_IDS - 1)) * ID_BYTES) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = index + 1;
    }
    this.slots = slots;
    this.mask = mask;
  }

  bytes(): number {
    return this.slots.byteLength + this.chunks.reduce((sum, c) => sum + c.length, 0);
  }
}

/** Mixes bytes 1..8 of the id (byte 0 picks the shard) into a 32-bit hash. */
function hashAt(b: Uint8Array, o: number): number {
  const lo = (b[o + 1] | (b[o + 2] << 8) | (b[o + 3] << 16) | (b[o + 4] << 24)) >>> 0;
  const hi = (b[o + 5] | (b[o + 6] << 8) | (b[o + 7] << 16) | (b[o + 8] << 24)) >>> 0;
  return (lo ^ Math.imul(hi, 0x9e3779b1)) >>> 0;
}

export class IdSet {
  private shards: Shard[] = [];
  private count = 0;

  /** Adds the 32-byte id at ids[offset..]; returns false if it was already in the set. */
  add(ids: Uint8Array, offset = 0): boolean {
    const s = ids[offset];
    const shard = (this.shards[s] ??= new Shard());
    const added = shard.add(ids, offset, hashAt(ids, offset));
    if (added) this.count++;
    return added;
  }

  has(ids: Uint8Array, offset = 0): boolean {
    const shard = this.shards[ids[offset]];
    return shard !== undefined && shard.find(ids, offset, hashAt(ids, offset)) >= 0;
  }

  get size(): number {
    return this.count;
  }

  /** Calls `visit` with each id (its bytes at bytes[offset..offset+32)). */
  forEach(visit: (bytes: Uint8Array, offset: number) => void): void {
    for (const shard of this.shards) {
      if (!shard) continue;
      for (let i = 0; i < shard.size; i++) visit(shard.chunks[i >>> CHUNK_SHIFT], (i & (CHUNK_IDS - 1)) * ID_BYTES);
    }
  }

  /** Bytes held, for the summary and the memory documentation. */
  bytes(): number {
    return this.shards.reduce((sum, s) => sum + (s ? s.bytes() : 0), 0);
  }
}
