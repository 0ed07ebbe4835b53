/**
 * The `tags` table beside Proton Beam's `events`: for each event, its single-letter tags (the
 * ones a NIP-01 filter matches with `#e`, `#p`, ...) as (tag name, first value, event id).
 *
 * The primary key (name, value, event_id) is the index that `--tag e=ID` looks up, and makes
 * an event indexed twice (a duplicate id in another day file) add nothing. It is optional
 * (convert --index-tags, index.ts rebuild --tags) and only written when it is complete: started
 * in a new index, kept up to date in one that has it; an index with events and no tags table
 * gets one only from `index.ts rebuild --tags`.
 */
import type { IndexDb } from './db.ts';
import { readFilterTags } from '../nostr/fields.ts';

export const CREATE_TAGS_TABLE = `CREATE TABLE IF NOT EXISTS tags (
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (name, value, event_id)
) WITHOUT ROWID`;

export const hasTagsTable = (db: IndexDb): boolean =>
  db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tags'`).get() !== undefined;

/** Tag rows in column form (they cross thread boundaries as plain arrays). */
export interface TagRows {
  names: string[];
  values: string[];
  eventIds: string[];
}

export const emptyTagRows = (): TagRows => ({ names: [], values: [], eventIds: [] });

/** Adds the filter tags of the message in buf[start, end) of event `eventId` to `rows`. */
export function collectTags(rows: TagRows, eventId: string, buf: Buffer, start: number, end: number): void {
  readFilterTags(buf, start, end, (name, value) => {
    rows.names.push(name);
    rows.values.push(value);
    rows.eventIds.push(eventId);
  });
}

/** Reads the varint length prefix at `at` of a member's data: [message start, message end]. */
export function messageAt(data: Buffer, at: number): [number, number] {
  let length = 0;
  let scale = 1;
  let p = at;
  for (;;) {
    const b = data[p++];
    length += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 128;
  }
  return [p, p + length];
}

const ROWS_PER_INSERT = 64;

/** Inserts tag rows (INSERT OR IGNORE), 64 per statement; run it inside the caller's transaction. */
export class TagInserter {
  private readonly many;
  private readonly one;
  private readonly args: string[] = new Array(3 * ROWS_PER_INSERT);
  inserted = 0;

  constructor(db: IndexDb, table = 'tags') {
    const sql = (k: number) => `INSERT OR IGNORE INTO ${table} (name, value, event_id) VALUES ${Array(k).fill('(?, ?, ?)').join(', ')}`;
    this.many = db.prepare(sql(ROWS_PER_INSERT));
    this.one = db.prepare(sql(1));
  }

  insert(rows: TagRows): void {
    const n = rows.names.length;
    const args = this.args;
    let k = 0;
    for (; k + ROWS_PER_INSERT <= n; k += ROWS_PER_INSERT) {
      for (let j = 0; j < ROWS_PER_INSERT; j++) {
        args[3 * j] = rows.names[k + j];
        args[3 * j + 1] = rows.values[k + j];
        args[3 * j + 2] = rows.eventIds[k + j];
      }
      this.inserted += this.many.run(args).changes;
    }
    for (; k < n; k++) this.inserted += this.one.run(rows.names[k], rows.values[k], rows.eventIds[k]).changes;
  }
}
