/**
 * The index rows of one gzip member in packed binary columns (raw 32-byte ids and pubkeys): built
 * by the writer threads per event without making strings, moved to the index thread without a
 * copy, turned into hex there (lib/index/loader.ts chunkOfPacked).
 */
export interface PackedRows {
  count: number;
  ids: Uint8Array; // 32 bytes each
  pubkeys: Uint8Array; // 32 bytes each
  kinds: Int32Array;
  createdAt: Float64Array;
  /** Offset of each event's length prefix in the member's uncompressed bytes. */
  offsetsInMember: Float64Array;
}

/** The rows' columns, for movableBuffers (lib/workers/transfer.ts). */
export const packedRowsViews = (r: PackedRows): ArrayBufferView[] => [r.ids, r.pubkeys, r.kinds, r.createdAt, r.offsetsInMember];

export class PackedRowsBuilder {
  private rows: PackedRows = emptyRows(64);
  count = 0;

  add(ids: Uint8Array, pubkeys: Uint8Array, i: number, kind: number, createdAt: number, offsetInMember: number): void {
    if (this.count === this.rows.kinds.length) this.grow();
    const r = this.rows;
    const k = this.count++;
    r.ids.set(ids.subarray(32 * i, 32 * i + 32), 32 * k);
    r.pubkeys.set(pubkeys.subarray(32 * i, 32 * i + 32), 32 * k);
    r.kinds[k] = kind;
    r.createdAt[k] = createdAt;
    r.offsetsInMember[k] = offsetInMember;
  }

  /** The rows so far, in arrays of their own; the builder starts again empty. */
  take(): PackedRows {
    const r = this.rows;
    const n = this.count;
    const out: PackedRows = {
      count: n, ids: r.ids.slice(0, 32 * n), pubkeys: r.pubkeys.slice(0, 32 * n), kinds: r.kinds.slice(0, n),
      createdAt: r.createdAt.slice(0, n), offsetsInMember: r.offsetsInMember.slice(0, n),
    };
    this.count = 0;
    return out;
  }

  private grow(): void {
    const old = this.rows;
    const r = emptyRows(old.kinds.length * 2);
    r.ids.set(old.ids);
    r.pubkeys.set(old.pubkeys);
    r.kinds.set(old.kinds);
    r.createdAt.set(old.createdAt);
    r.offsetsInMember.set(old.offsetsInMember);
    this.rows = r;
  }
}

function emptyRows(n: number): PackedRows {
  return { count: 0, ids: new Uint8Array(32 * n), pubkeys: new Uint8Array(32 * n), kinds: new Int32Array(n), createdAt: new Float64Array(n), offsetsInMember: new Float64Array(n) };
}
