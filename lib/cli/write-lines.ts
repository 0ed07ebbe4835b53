/** Writing many lines to a stream (stdout) with backpressure: memory stays flat. */
import type { Writable } from 'node:stream';
import type { NostrEvent } from '../nostr/codec.ts';

export async function writeText(out: Writable, text: string): Promise<void> {
  if (text.length === 0) return;
  if (out.write(text)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      out.off('drain', done);
      out.off('error', done);
      out.off('close', done);
      if (err) reject(err);
      else resolve();
    };
    out.on('drain', done).on('error', done).on('close', done);
  });
}

/** Events as NIP-01 JSON lines (keys in the order id, pubkey, created_at, kind, tags, content, sig). */
export function jsonLines(events: NostrEvent[]): string {
  let text = '';
  for (const e of events) {
    text += JSON.stringify({ id: e.id, pubkey: e.pubkey, created_at: e.created_at, kind: e.kind, tags: e.tags, content: e.content, sig: e.sig }) + '\n';
  }
  return text;
}

/** Event ids, one a line. */
export function idLines(events: NostrEvent[]): string {
  let text = '';
  for (const e of events) text += `${e.id}\n`;
  return text;
}

/** A TSV field: backslash, tab, newline and carriage return escaped as \\, \t, \n, \r. */
export const tsvField = (s: string): string =>
  s.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));

export const TSV_HEADER = 'id\tpubkey\tcreated_at\tkind\tcontent\n';

/** Events as TSV rows: id, pubkey, created_at, kind, content. */
export function tsvLines(events: NostrEvent[]): string {
  let text = '';
  for (const e of events) text += `${e.id}\t${e.pubkey}\t${e.created_at}\t${e.kind}\t${tsvField(e.content)}\n`;
  return text;
}
