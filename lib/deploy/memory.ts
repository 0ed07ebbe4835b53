/**
 * The memory rule of make plan: the converter keeps every distinct event id in memory (the dedup
 * table, docs/FORMAT.md: 37 to 45 bytes per distinct event, 44.7 measured at 30 million), so the
 * instance needs room for the table plus the converter's own use, or it runs out of memory hours in.
 */
import type { Prices } from './cost.ts';

const GIB = 1024 ** 3;
/** Bytes of the dedup table per distinct event (docs/FORMAT.md, rounded up from 44.7). */
export const TABLE_BYTES_PER_EVENT = 45;
/** The converter's own use besides the table: the main thread, the index writer, upload buffers (~160 MiB). */
export const CONVERTER_BASE_BYTES = 1.5 * GIB;
/** Per vCPU: a worker thread's heap and its batches in flight (2 x 4 MB). */
export const PER_VCPU_BYTES = 192 * 1024 ** 2;
/** What the table and converter may take of the instance's memory (the rest: the OS, the page cache). */
export const USABLE_FRACTION = 0.85;

export interface MemoryCheck {
  events: number;
  bytesPerEvent: number;
  tableBytes: number;
  needBytes: number;
  haveBytes: number;
  fits: boolean;
  /** The smallest known instance type (by memory, then price) that fits, when this one does not. */
  smallest?: string;
}

const need = (events: number, vcpu: number) => events * TABLE_BYTES_PER_EVENT + CONVERTER_BASE_BYTES + vcpu * PER_VCPU_BYTES;
const fits = (events: number, t: { vcpu: number; memoryGib: number }) => need(events, t.vcpu) <= t.memoryGib * GIB * USABLE_FRACTION;

/** Events estimated from the uncompressed input size; every event counted as distinct (the worst case). */
export function checkMemory(uncompressedBytes: number, bytesPerEvent: number, instanceType: string, prices: Prices): MemoryCheck {
  const type = prices.instances[instanceType];
  if (!type) throw new Error(`no entry for ${instanceType} in data/prices.json`);
  const events = Math.ceil(uncompressedBytes / bytesPerEvent);
  const ok = fits(events, type);
  const smallest = ok ? undefined : Object.entries(prices.instances)
    .filter(([, t]) => fits(events, t))
    .sort(([, a], [, b]) => a.memoryGib - b.memoryGib || a.onDemandHourly - b.onDemandHourly)[0]?.[0];
  return {
    events, bytesPerEvent, tableBytes: events * TABLE_BYTES_PER_EVENT, needBytes: need(events, type.vcpu),
    haveBytes: type.memoryGib * GIB, fits: ok, smallest,
  };
}
