/**
 * A read-only set of 32-byte ids in SharedArrayBuffers, built once by a writer thread from the ids
 * already in its day files and probed by every validating worker without a copy and without the
 * main thread: a line whose id is in it is a copy of a stored event, whose signature need not be
 * checked (a verify costs more than all the rest of an event's work).
 *
 * Open addressing over 32-bit slots (0 empty, else the id's index + 1); every probe compares all
 * 32 bytes. Memory: 32 bytes of id plus 4 to 8 bytes of slot per id.
 */
export interface SharedIdSet {
  slots: SharedArrayBuffer;
  ids: SharedArrayBuffer;
}

const hashAt = (b: Uint8Array, o: number): number =>
  ((b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) ^ Math.imul(b[o + 4] | (b[o + 5] << 8) | (b[o + 6] << 16) | (b[o + 7] << 24), 0x9e3779b1)) >>> 0;

/** `count` ids given by `each` (called with a visitor receiving a buffer and an offset). */
export function buildSharedIdSet(count: number, each: (visit: (bytes: Uint8Array, offset: number) => void) => void): SharedIdSet {
  let size = 16;
  while (size < count * 2) size *= 2;
  const slots = new SharedArrayBuffer(4 * size);
  const ids = new SharedArrayBuffer(32 * Math.max(1, count));
  const s = new Uint32Array(slots);
  const b = new Uint8Array(ids);
  const mask = size - 1;
  let n = 0;
  each((bytes, offset) => {
    b.set(bytes.subarray(offset, offset + 32), 32 * n);
    let slot = hashAt(b, 32 * n) & mask;
    while (s[slot] !== 0) slot = (slot + 1) & mask;
    s[slot] = ++n;
  });
  return { slots, ids };
}

/** A reader of a SharedIdSet, made once per thread. */
export class SharedIdSetReader {
  private s: Uint32Array;
  private b: Uint8Array;
  private mask: number;

  constructor(set: SharedIdSet) {
    this.s = new Uint32Array(set.slots);
    this.b = new Uint8Array(set.ids);
    this.mask = this.s.length - 1;
  }

  has(bytes: Uint8Array, offset: number): boolean {
    const { s, b, mask } = this;
    for (let slot = hashAt(bytes, offset) & mask; ; slot = (slot + 1) & mask) {
      const entry = s[slot];
      if (entry === 0) return false;
      const at = 32 * (entry - 1);
      let i = 0;
      while (i < 32 && b[at + i] === bytes[offset + i]) i++;
      if (i === 32) return true;
    }
  }
}
