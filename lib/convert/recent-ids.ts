/**
 * The ids the writer threads stored most recently, in one SharedArrayBuffer the validating
 * workers read: a line whose id is found there is a copy of a stored event, and its signature
 * need not be checked (a verify costs more than all the rest of an event's work; merged dumps
 * repeat many events).
 *
 * Direct-mapped: each id goes to the slot its hash picks, over whatever was there. Writes and
 * reads race without locks, and that is safe: a worker compares all 32 bytes, and an id found
 * was written by a writer, which stores an id only once its event is on its way to a day file;
 * a writer takes the batches in input order, and a batch reaches it only after its worker is
 * done, so an id a worker finds belongs to an event earlier in the input. A torn slot (two ids
 * mixed by racing writes) matches no real id. An all-zero id (the empty slot) is never looked up.
 */
const SLOT_BYTES = 32;
/** Slots of the table: 2^20 x 32 bytes = 32 MiB, shared by every thread of the run. */
export const RECENT_SLOTS = 1 << 20;

export const newRecentIds = (slots = RECENT_SLOTS): SharedArrayBuffer => new SharedArrayBuffer(slots * SLOT_BYTES);

const slotOf = (b: Uint8Array, o: number, mask: number): number =>
  ((b[o + 8] | (b[o + 9] << 8) | (b[o + 10] << 16) | (b[o + 11] << 24)) >>> 0) & mask;

export class RecentIds {
  private bytes: Uint8Array;
  private mask: number;

  constructor(buffer: SharedArrayBuffer) {
    this.bytes = new Uint8Array(buffer);
    this.mask = buffer.byteLength / SLOT_BYTES - 1;
  }

  add(ids: Uint8Array, offset: number): void {
    this.bytes.set(ids.subarray(offset, offset + SLOT_BYTES), slotOf(ids, offset, this.mask) * SLOT_BYTES);
  }

  has(ids: Uint8Array, offset: number): boolean {
    const b = this.bytes;
    const at = slotOf(ids, offset, this.mask) * SLOT_BYTES;
    let zero = true;
    for (let i = 0; i < SLOT_BYTES; i++) {
      if (b[at + i] !== ids[offset + i]) return false;
      if (ids[offset + i] !== 0) zero = false;
    }
    return !zero;
  }
}
