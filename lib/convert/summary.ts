/** The counts of a conversion, and the summary printed at its end. */
import type { RejectReason } from '../nostr/validate.ts';
import { formatBytes, formatDuration } from '../cli/format.ts';

export interface ConversionCounts {
  lines: number;
  /** Lines that were valid events, duplicates included. */
  valid: number;
  /** Valid events whose id was already stored (earlier in the input, or in the folder before). */
  duplicates: number;
  /** Of the duplicates, those recognised before their signature was checked (it was not). */
  duplicatesUnverified: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectReason, number>>;
  /** Events already in the output folder's day files before this run. */
  preexisting: number;
  /** Day files whose cut-off last member was removed before this run added to them. */
  repaired: number;
  bytesIn: number;
  /** The JSONL bytes those became, when the input was compressed (undefined when it was not). */
  jsonlBytes?: number;
  bytesOut: number;
  files: number;
  seconds: number;
  /** The signature verifier that ran ("native (libsecp256k1.so.1)", "wasm (tiny-secp256k1)"), or "off". */
  verifier: string;
  /** The gzip of the members ("libdeflate (libdeflate.so.0)", "zlib"; lib/day-files/gzip.ts). */
  gzip: string;
  /**
   * CPU of the main thread while lines flowed (start-up excluded). Every line passes through it,
   * so 1 / (this per line) caps the converter's rate whatever the number of cores.
   */
  mainThreadCpuSeconds: number;
  /** CPU of the index's thread while inserting (lib/index/writer.ts): serial too, so it caps the rate the same way. */
  indexThreadCpuSeconds?: number;
  /** For an s3://bucket/prefix/ input: how many objects were read. */
  inputObjects?: number;
  /** Checkpoints this run took, and the time reading waited for them (lib/checkpoint). */
  checkpoints?: { count: number; seconds: number };
}

export const emptyCounts = (): ConversionCounts => ({
  lines: 0, valid: 0, duplicates: 0, duplicatesUnverified: 0, rejected: 0, rejectedByReason: {}, preexisting: 0, repaired: 0, bytesIn: 0, bytesOut: 0, files: 0, seconds: 0, verifier: 'off', gzip: 'zlib', mainThreadCpuSeconds: 0,
});

export function formatSummary(c: ConversionCounts, outputDir: string): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const perSecond = (x: number) => (c.seconds > 0 ? x / c.seconds : 0);
  const lines = [
    `Conversion summary (${outputDir})`,
    `  lines read        ${n(c.lines)}`,
    `  valid events      ${n(c.valid)}`,
    `  stored            ${n(c.valid - c.duplicates)}`,
    `  duplicates        ${n(c.duplicates)}${c.duplicatesUnverified ? `  (signature check skipped for ${n(c.duplicatesUnverified)})` : ''}`,
    `  signatures        ${c.verifier === 'off' ? 'not checked' : `checked, ${c.verifier} verifier`}`,
    `  gzip              ${c.gzip}`,
    `  rejected          ${n(c.rejected)}${c.rejected ? '  (see proton-beam.log)' : ''}`,
  ];
  const reasons = Object.entries(c.rejectedByReason).sort((a, b) => b[1] - a[1]);
  for (const [reason, count] of reasons) lines.push(`    ${reason.padEnd(20)}${n(count)}`);
  if (c.inputObjects !== undefined) lines.push(`  input objects     ${n(c.inputObjects)}  (every .jsonl/.json/.ndjson[.gz] under the prefix, in key order)`);
  if (c.preexisting) lines.push(`  already in folder ${n(c.preexisting)}`);
  if (c.repaired) lines.push(`  files repaired    ${n(c.repaired)}  (cut back to their last complete gzip member; see proton-beam.log)`);
  lines.push(
    `  day files written ${n(c.files)}`,
    `  bytes in / out    ${formatBytes(c.bytesIn)}${c.jsonlBytes !== undefined ? ` compressed (${formatBytes(c.jsonlBytes)} of JSONL)` : ''} / ${formatBytes(c.bytesOut)}`,
    `  time              ${formatDuration(c.seconds)} (${n(Math.round(perSecond(c.lines)))} lines/s, ${formatBytes(perSecond(c.bytesIn))}/s)`,
  );
  if (c.checkpoints?.count) lines.push(`  checkpoints       ${n(c.checkpoints.count)}  (${c.checkpoints.seconds.toFixed(2)} s of waiting in all)`);
  if (c.lines > 0 && c.mainThreadCpuSeconds > 0) {
    const perLine = c.mainThreadCpuSeconds / c.lines;
    lines.push(`  main thread       ${(perLine * 1e6).toFixed(2)} us of CPU per line (caps the rate at ${n(Math.round(1 / perLine))} lines/s)`);
  }
  if (c.lines > 0 && c.indexThreadCpuSeconds) {
    const perLine = c.indexThreadCpuSeconds / c.lines;
    lines.push(`  index thread      ${(perLine * 1e6).toFixed(2)} us of CPU per line (caps the rate at ${n(Math.round(1 / perLine))} lines/s)`);
  }
  return lines.join('\n');
}
