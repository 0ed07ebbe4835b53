/**
 * Worker thread of `index.ts rebuild`: reads a group of day files (or part of a large one) and
 * writes their index rows, sorted by id, into a small staging SQLite file that the main thread
 * then copies into the index with one INSERT ... SELECT. Binding values from JavaScript costs
 * about as much as the insert itself; done here, it runs in parallel with the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { closeThread, isStopRequest } from '../workers/stop.ts';
import Database from 'better-sqlite3';
import { readIndexFields, NotAnEventError } from '../nostr/fields.ts';
import { DayFileError, readLocatedMessages } from '../day-files/members.ts';
import { TagInserter, collectTags, emptyTagRows } from './tags.ts';

export interface RebuildTask {
  /** Day files read one after the other; the first from the member at byte `start`. */
  files: { path: string; name: string }[];
  start: number;
  /** Stop at the first member's end after this many rows (at most 2^20). */
  maxRows: number;
  stagePath: string;
  /** Stage the events' tags too. */
  tags: boolean;
}

export interface RebuildResult {
  task: RebuildTask;
  rows: number;
  /** Where reading should go on: task.files[fileIndex] from byte `start`. */
  next?: { fileIndex: number; start: number };
  /** Damage that ended a file (the rows before it are staged), one line each. */
  damage: string[];
}

export const STAGE_TABLE = 'stage';
/** The staged parts' tag rows (lib/index/tags.ts). */
export const STAGE_TAGS_TABLE = 'stage_tags';
const STAGE_COLUMNS = 'id, kind, pubkey, created_at, file_path, member_offset, offset_in_member';
const ROWS_PER_INSERT = 64;

/** Index rows in column form. */
class Rows {
  ids: string[] = [];
  pubkeys: string[] = [];
  kinds: number[] = [];
  createdAt: number[] = [];
  files: string[] = [];
  memberOffsets: number[] = [];
  offsetsInMember: number[] = [];
  tags = emptyTagRows();
  get length(): number {
    return this.ids.length;
  }
}

export async function readTask(task: RebuildTask): Promise<{ rows: Rows; next?: RebuildResult['next']; damage: string[] }> {
  const rows = new Rows();
  const damage: string[] = [];
  for (let f = 0; f < task.files.length; f++) {
    const file = task.files[f];
    try {
      for await (const batch of readLocatedMessages(file.path, f === 0 ? task.start : 0)) {
        const { buf, starts, ends } = batch;
        for (let i = 0; i < batch.count; i++) {
          let fields;
          try {
            fields = readIndexFields(buf, starts[i], ends[i]);
          } catch (err) {
            if (!(err instanceof NotAnEventError)) throw err;
            throw new DayFileError(file.path, batch.memberOffsets[i], `the message at offset ${batch.offsetsInMember[i]} of this gzip member's data is not a Nostr ProtoEvent (${err.message})`);
          }
          rows.ids.push(fields.id);
          rows.pubkeys.push(fields.pubkey);
          rows.kinds.push(fields.kind);
          rows.createdAt.push(fields.createdAt);
          rows.files.push(file.name);
          rows.memberOffsets.push(batch.memberOffsets[i]);
          rows.offsetsInMember.push(batch.offsetsInMember[i]);
          if (task.tags) collectTags(rows.tags, fields.id, buf, starts[i], ends[i]);
        }
        if (batch.memberEnd !== undefined && rows.length >= task.maxRows) {
          return { rows, next: { fileIndex: f, start: batch.memberEnd }, damage };
        }
      }
    } catch (err) {
      if (!(err instanceof DayFileError)) throw err;
      damage.push(err.message);
    }
    if (rows.length >= task.maxRows && f + 1 < task.files.length) return { rows, next: { fileIndex: f + 1, start: 0 }, damage };
  }
  return { rows, damage };
}

const TWO_20 = 2 ** 20;

/** Row numbers in id order (by the first 32 bits; ties keep file order). */
function idOrder(ids: string[]): Uint32Array {
  const keys = new Float64Array(ids.length);
  for (let i = 0; i < ids.length; i++) keys[i] = parseInt(ids[i].slice(0, 8), 16) * TWO_20 + i;
  keys.sort();
  const order = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) order[i] = keys[i] % TWO_20;
  return order;
}

/** Writes rows, sorted by id, into a new staging database. */
export function stageRows(stagePath: string, rows: Rows): void {
  const n = rows.length;
  if (n > TWO_20) throw new Error(`a staged part has ${n} rows, more than 2^20`);
  const order = idOrder(rows.ids);
  const db = new Database(stagePath);
  try {
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma('page_size = 65536');
    db.exec(`CREATE TABLE ${STAGE_TABLE} (id TEXT, kind INTEGER, pubkey TEXT, created_at INTEGER, file_path TEXT, member_offset INTEGER, offset_in_member INTEGER)`);
    const sql = (k: number) => `INSERT INTO ${STAGE_TABLE} (${STAGE_COLUMNS}) VALUES ${Array(k).fill('(?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
    const many = db.prepare(sql(ROWS_PER_INSERT));
    const one = db.prepare(sql(1));
    const args: (string | number)[] = new Array(7 * ROWS_PER_INSERT);
    const put = (j: number, r: number) => {
      args[j] = rows.ids[r];
      args[j + 1] = rows.kinds[r];
      args[j + 2] = rows.pubkeys[r];
      args[j + 3] = rows.createdAt[r];
      args[j + 4] = rows.files[r];
      args[j + 5] = rows.memberOffsets[r];
      args[j + 6] = rows.offsetsInMember[r];
    };
    db.exec(`CREATE TABLE ${STAGE_TAGS_TABLE} (name TEXT, value TEXT, event_id TEXT)`);
    const tags = new TagInserter(db, STAGE_TAGS_TABLE);
    db.transaction(() => {
      tags.insert(rows.tags);
      let k = 0;
      for (; k + ROWS_PER_INSERT <= n; k += ROWS_PER_INSERT) {
        for (let j = 0; j < ROWS_PER_INSERT; j++) put(7 * j, order[k + j]);
        many.run(args);
      }
      for (; k < n; k++) {
        put(0, order[k]);
        one.run(args.slice(0, 7));
      }
    })();
  } finally {
    db.close();
  }
}

parentPort?.on('message', async (task: RebuildTask) => {
  if (isStopRequest(task)) return closeThread();
  const { rows, next, damage } = await readTask(task);
  stageRows(task.stagePath, rows);
  parentPort!.postMessage({ task, rows: rows.length, next, damage } satisfies RebuildResult);
});
