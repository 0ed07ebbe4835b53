/**
 * When no line of an input was a valid event, what the input most likely is instead (a day file,
 * a JSON array, pretty-printed JSON, events with bad signatures), said in one phrase with the fix.
 */
import fs from 'node:fs';
import zlib from 'node:zlib';
import type { ConversionCounts } from './summary.ts';

const HEAD_BYTES = 64 * 1024;

/** The hint for `input` (a path, or anything else: then only the counts speak). */
export function inputShapeHint(input: string, counts: Pick<ConversionCounts, 'rejectedByReason'>): string {
  const head = readHead(input);
  if (head !== undefined) {
    const text = head.toString('utf8').trimStart();
    if (/\.pb(\.gz)?$/.test(input) || isBinary(head)) {
      return /\.pb(\.gz)?$/.test(input)
        ? 'it looks like a day file (convert\'s output); read it with: npx tsx scripts/cat.ts FILE'
        : 'it looks binary, not JSON lines';
    }
    if (text.startsWith('[')) return "it looks like one JSON array; convert takes one event per line: jq -c '.[]' FILE > events.jsonl";
    if (/^\{\s*\n/.test(text)) return 'it looks like pretty-printed JSON; convert takes one event per line: jq -c . FILE > events.jsonl';
  }
  const [top] = Object.entries(counts.rejectedByReason).sort((a, b) => b[1] - a[1]);
  if (top?.[0] === 'bad_signature' || top?.[0] === 'id_mismatch') {
    return `most lines failed the ${top[0] === 'bad_signature' ? 'signature' : 'id'} check; proton-beam.log lists each (--validate-signatures=false / --validate-event-ids=false skip the checks)`;
  }
  return `the most common reason was ${top?.[0] ?? 'unknown'}; proton-beam.log lists each line and why`;
}

/** The first 64 KiB of a local file, gunzipped when it is gzip; undefined for other inputs. */
function readHead(input: string): Buffer | undefined {
  if (input === '-' || /^[a-z][a-z0-9+.-]*:\/\//i.test(input)) return undefined;
  try {
    const fd = fs.openSync(input, 'r');
    try {
      const buf = Buffer.alloc(HEAD_BYTES);
      const head = buf.subarray(0, fs.readSync(fd, buf, 0, HEAD_BYTES, 0));
      if (head[0] !== 0x1f || head[1] !== 0x8b) return head;
      return zlib.gunzipSync(head, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, HEAD_BYTES);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

/** Control bytes other than white space in the first KiB: not text. */
function isBinary(head: Buffer): boolean {
  const sample = head.subarray(0, 1024);
  let control = 0;
  for (const b of sample) if (b < 0x09 || (b > 0x0d && b < 0x20)) control++;
  return control > sample.length / 20;
}
