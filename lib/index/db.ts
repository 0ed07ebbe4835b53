/**
 * DIR/index.db: Proton Beam's SQLite index of the day files, opened with its schema checked,
 * and loaded in bulk.
 *
 * The `events` table and its four indexes are Proton Beam's, column for column, so tools
 * written for it work. Two nullable columns are ours: where the event sits in its day file
 * (the byte offset of the gzip member that holds it, and the offset of its length prefix in
 * that member's uncompressed bytes). Proton Beam's own inserts leave them NULL; readers then
 * scan the file.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FatalError } from '../cli/errors.ts';

export const INDEX_NAME = 'index.db';

export const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind INTEGER NOT NULL,
    pubkey TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    file_path TEXT NOT NULL,
    indexed_at INTEGER NOT NULL,
    member_offset INTEGER,
    offset_in_member INTEGER
)`;

/** Proton Beam's columns: name, declared type, NOT NULL, primary key. */
export const REQUIRED_COLUMNS: [string, string, boolean, boolean][] = [
  ['id', 'TEXT', false, true],
  ['kind', 'INTEGER', true, false],
  ['pubkey', 'TEXT', true, false],
  ['created_at', 'INTEGER', true, false],
  ['file_path', 'TEXT', true, false],
  ['indexed_at', 'INTEGER', true, false],
];

/** Our additions, nullable so that Proton Beam's inserts still work. */
export const LOCATION_COLUMNS = ['member_offset', 'offset_in_member'];

export const SECONDARY_INDEXES: [string, string][] = [
  ['idx_kind', 'kind'],
  ['idx_pubkey', 'pubkey'],
  ['idx_created_at', 'created_at'],
  ['idx_file_path', 'file_path'],
];

export type IndexDb = Database.Database;

export const indexPathOf = (dir: string): string => path.join(dir, INDEX_NAME);

export interface SchemaState {
  /** The events table exists. */
  hasTable: boolean;
  /** Our location columns exist. */
  hasLocations: boolean;
  /** Secondary indexes not there yet. */
  missingIndexes: string[];
}

interface ColumnInfo { name: string; type: string; notnull: number; dflt_value: unknown; pk: number }

/** Checks that `events` is Proton Beam's table; a FatalError naming the file otherwise. */
export function checkSchema(db: IndexDb, file: string): SchemaState {
  const table = db.prepare(`SELECT type FROM sqlite_master WHERE name = 'events'`).get() as { type: string } | undefined;
  const notOurs = (why: string) => new FatalError(`${file}: not a Proton Beam index (${why}); move it away or rebuild it with: npx tsx scripts/index.ts rebuild`);
  if (!table) {
    // An empty file is ours to fill; a database of something else is not.
    const others = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' LIMIT 3`).all() as { name: string }[];
    if (others.length > 0) throw notOurs(`it holds table ${others.map((t) => t.name).join(', ')} and no events table`);
    return { hasTable: false, hasLocations: false, missingIndexes: SECONDARY_INDEXES.map(([n]) => n) };
  }
  if (table.type !== 'table') throw notOurs(`"events" is a ${table.type}`);
  const columns = db.prepare('PRAGMA table_info(events)').all() as ColumnInfo[];
  const describe = (c: ColumnInfo) => `${c.name} ${c.type}${c.notnull ? ' NOT NULL' : ''}${c.pk ? ' PRIMARY KEY' : ''}`;
  for (const [i, [name, type, notNull, pk]] of REQUIRED_COLUMNS.entries()) {
    const c = columns[i];
    if (!c || c.name !== name || c.type.toUpperCase() !== type || Boolean(c.notnull) !== notNull || Boolean(c.pk) !== pk) {
      const expected = `${name} ${type}${notNull ? ' NOT NULL' : ''}${pk ? ' PRIMARY KEY' : ''}`;
      throw notOurs(`table events has ${c ? `column ${i + 1} ${describe(c)}` : `only ${columns.length} columns`} where ${expected} was expected`);
    }
  }
  if (columns.filter((c) => c.pk).length !== 1) throw notOurs('table events has a primary key over several columns');
  for (const c of columns.slice(REQUIRED_COLUMNS.length)) {
    if (c.notnull && c.dflt_value === null) throw notOurs(`table events has an extra column ${describe(c)} without a default`);
  }
  const names = new Set(columns.map((c) => c.name));
  const missingIndexes: string[] = [];
  for (const [index, column] of SECONDARY_INDEXES) {
    const info = db.prepare(`SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?`).get(index) as { tbl_name: string } | undefined;
    if (!info) {
      missingIndexes.push(index);
      continue;
    }
    const cols = (db.prepare(`PRAGMA index_info(${index})`).all() as { name: string }[]).map((c) => c.name);
    if (info.tbl_name !== 'events' || cols.length !== 1 || cols[0] !== column) {
      throw notOurs(`index ${index} is on ${info.tbl_name}(${cols.join(', ')}), not events(${column})`);
    }
  }
  return { hasTable: true, hasLocations: LOCATION_COLUMNS.every((c) => names.has(c)), missingIndexes };
}

function open(file: string, options: Database.Options): IndexDb {
  if (fs.statSync(file, { throwIfNoEntry: false })?.isDirectory()) {
    throw new FatalError(`${file}: is a directory, not an index; move it away (convert or npx tsx scripts/index.ts rebuild ${path.dirname(file)} then make a new one)`);
  }
  let db: IndexDb | undefined;
  try {
    db = new Database(file, options);
    db.prepare('SELECT count(*) FROM sqlite_master').get();
  } catch (err) {
    db?.close();
    const e = err as { code?: string; message: string };
    if (e.code === 'SQLITE_NOTADB') throw new FatalError(`${file}: not an SQLite database`);
    if (e.code === 'SQLITE_CANTOPEN' && options.fileMustExist && !fs.existsSync(file)) {
      throw new FatalError(`${file}: no index here; build it with: npx tsx scripts/index.ts rebuild ${path.dirname(file)}`);
    }
    if (options.readonly && e.code?.startsWith('SQLITE_READONLY')) return openAfterRollback(file, options);
    if (e.code === 'SQLITE_FULL') throw new FatalError(`${file}: no space left on device`);
    throw new FatalError(`${file}: cannot open the index: ${e.message}`);
  }
  return db;
}

/**
 * A read-only connection cannot roll back the hot journal of a writer that was killed
 * mid-transaction. A read-write one does so as it opens (SQLite's own locks make sure the
 * writer is gone); then the index is opened read-only again.
 */
function openAfterRollback(file: string, options: Database.Options): IndexDb {
  try {
    const writer = new Database(file, { fileMustExist: true });
    writer.prepare('SELECT count(*) FROM sqlite_master').get();
    writer.close();
    const db = new Database(file, options);
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    return db;
  } catch (err) {
    throw new FatalError(`${file}: a write to the index was stopped midway and it cannot be rolled back here (${(err as Error).message}); convert into ${path.dirname(file)} again or run: npx tsx scripts/index.ts rebuild ${path.dirname(file)}`);
  }
}

/** Opens an existing index to read it. */
export function openIndexForRead(file: string, needTable = true, writable = false): { db: IndexDb; schema: SchemaState } {
  const db = open(file, { readonly: !writable, fileMustExist: true });
  let schema: SchemaState;
  try {
    schema = checkSchema(db, file);
  } catch (err) {
    db.close();
    throw err;
  }
  if (!schema.hasTable && needTable) {
    db.close();
    throw new FatalError(`${file}: holds no events table; build the index with: npx tsx scripts/index.ts rebuild ${path.dirname(file)}`);
  }
  return { db, schema };
}

/**
 * Opens (or creates) an index to add to it. `fresh` is for a new file that nothing else reads
 * yet (rebuild): no journal, larger pages. The secondary indexes are left to `finishIndex`.
 */
export function openIndexForWrite(file: string, fresh = false): { db: IndexDb; schema: SchemaState } {
  const db = open(file, {});
  try {
    // Large pages: bulk loads and index builds are ~1.5x faster than with 4 KiB pages
    // (measured). It only takes effect on a file that holds nothing yet.
    db.pragma('page_size = 65536');
    if (fresh) {
      db.pragma('journal_mode = OFF');
      db.pragma('locking_mode = EXCLUSIVE');
    }
    // A commit is on disk before it returns (rows are committed in large batches, so this
    // costs little), and only after the day file members they point into (DayWriter syncs
    // those first): a crash or power cut never leaves rows pointing past a file's end. A fresh
    // file (rebuild) is renamed into place only once complete: nothing to sync until then.
    db.pragma(fresh ? 'synchronous = OFF' : 'synchronous = FULL');
    db.pragma('cache_size = -524288'); // 512 MiB
    const schema = checkSchema(db, file);
    if (!schema.hasTable) db.exec(CREATE_TABLE);
    else if (!schema.hasLocations) {
      const names = new Set((db.prepare('PRAGMA table_info(events)').all() as ColumnInfo[]).map((c) => c.name));
      for (const c of LOCATION_COLUMNS) if (!names.has(c)) db.exec(`ALTER TABLE events ADD COLUMN ${c} INTEGER`);
    }
    return { db, schema: checkSchema(db, file) };
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Creates the secondary indexes that are missing, and the planner's statistics.
 *
 * SQLite sorts with helper threads only when the sorter may spill to temporary files and its
 * memory is bounded: a small cache and temp_store = FILE make CREATE INDEX about 1.7x faster
 * on two cores than one large in-memory sort (measured on 1M rows).
 */
export function finishIndex(db: IndexDb, threads = Math.min(4, os.availableParallelism())): void {
  const cacheSize = db.pragma('cache_size', { simple: true });
  db.pragma('temp_store = FILE');
  db.pragma('cache_size = -16384');
  db.pragma(`threads = ${threads}`);
  for (const [index, column] of SECONDARY_INDEXES) db.exec(`CREATE INDEX IF NOT EXISTS ${index} ON events(${column})`);
  db.pragma('analysis_limit = 1000');
  db.exec('ANALYZE');
  db.pragma(`cache_size = ${cacheSize}`);
}

export function countRows(db: IndexDb): number {
  if (!db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'`).get()) return 0;
  return (db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
}

/** Deletes an index file with its journal or WAL, if there (`andFile` false: only those). */
export function removeIndex(file: string, andFile = true): void {
  for (const suffix of [...(andFile ? [''] : []), '-journal', '-wal', '-shm']) fs.rmSync(`${file}${suffix}`, { force: true });
}
