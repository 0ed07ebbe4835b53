/**
 * `index.ts rebuild`: a new index.db from the day files.
 *
 * Worker threads read the day files, in groups of small files or parts of a large one (about
 * PART_ROWS events each, so that a day of any size streams), and stage each part's rows,
 * sorted by id, in a small SQLite file. The main thread copies each staged part into the index
 * with one INSERT ... SELECT (no per-row JavaScript), while the workers read on, and creates
 * the secondary indexes at the end. The new index is written beside the old one and renamed
 * over it at the end, so a failed rebuild leaves the old index as it was. Damaged tails are
 * reported and skipped.
 */
import fs from 'node:fs';
import path from 'node:path';
import { listDayFiles } from '../day-files/names.ts';
import { FatalError, describeFsError } from '../cli/errors.ts';
import { countRows, finishIndex, indexPathOf, openIndexForRead, openIndexForWrite, removeIndex, type IndexDb } from './db.ts';
import { CREATE_TAGS_TABLE, hasTagsTable } from './tags.ts';
import { STAGE_TABLE, STAGE_TAGS_TABLE, type RebuildResult, type RebuildTask } from './rebuild-worker.ts';
import { WorkerPool, asError } from '../workers/pool.ts';
import { lockFolder } from '../day-files/folder-lock.ts';
import { failpoint } from '../failpoints.ts';
import { libModule } from '../paths.ts';
import { ProgressBar } from '../cli/progress.ts';

const WORKER_SCRIPT = libModule('index/rebuild-worker.ts');
/** Rows in a staged part: large enough that the primary key takes them with locality. */
const PART_ROWS = 100_000;
/** Small day files are grouped into one task up to this many compressed bytes. */
const GROUP_BYTES = 24 << 20;

export interface RebuildOptions {
  dir: string;
  /** Default DIR/index.db. */
  indexPath?: string;
  parallel: number;
  log?: (text: string) => void;
  /** The caller holds DIR's lock (a conversion that rebuilds at its end). */
  lockHeld?: boolean;
  /** Show the phase, time and events read on the terminal (stderr). */
  progress?: boolean;
  /** Write the tags table (lib/index/tags.ts); by default when the index being replaced has one. */
  tags?: boolean;
}

export interface RebuildSummary {
  indexPath: string;
  files: number;
  events: number;
  /** Events whose id was already indexed from another file. */
  duplicates: number;
  /** One line per damaged file. */
  damaged: string[];
  /** Reading the files and inserting the rows. */
  loadSeconds: number;
  /** Creating the secondary indexes. */
  indexSeconds: number;
  seconds: number;
}

export async function rebuildIndex(opts: RebuildOptions): Promise<RebuildSummary> {
  if (!fs.existsSync(opts.dir) || !fs.statSync(opts.dir).isDirectory()) throw new FatalError(`${opts.dir}: no such folder`);
  const lock = opts.lockHeld ? undefined : await lockFolder(opts.dir, 'index.ts rebuild');
  try {
    return await rebuildLocked(opts);
  } finally {
    await lock?.release();
  }
}

async function rebuildLocked(opts: RebuildOptions): Promise<RebuildSummary> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const indexPath = opts.indexPath ?? indexPathOf(opts.dir);
  removeRebuildLeftovers(indexPath);
  const files = listDayFiles(opts.dir).map((name) => ({ path: path.join(opts.dir, name), name }));
  log(`indexing ${files.length} day files in ${opts.dir} into ${indexPath}`);

  const withTags = opts.tags ?? indexHasTags(indexPath);
  const tempPath = `${indexPath}.rebuild-${process.pid}`;
  const stageDir = `${tempPath}.parts`;
  removeIndex(tempPath);
  let db: IndexDb;
  try {
    fs.rmSync(stageDir, { recursive: true, force: true });
    fs.mkdirSync(stageDir);
    db = openIndexForWrite(tempPath, true).db;
    if (withTags) db.exec(CREATE_TAGS_TABLE);
  } catch (err) {
    fs.rmSync(stageDir, { recursive: true, force: true });
    throw asFatal(err, tempPath);
  }
  const pool = new WorkerPool<RebuildTask, RebuildResult>(WORKER_SCRIPT, Math.max(1, Math.min(opts.parallel, files.length)), null);
  const damaged: string[] = [];
  let events = 0;
  const progress = opts.progress ? new ProgressBar(() => ({ events }), 'reading day files') : undefined;
  let inserted = 0;
  let loadSeconds = 0;
  let indexSeconds = 0;
  try {
    const queue = groupFiles(files);
    let seq = 0;
    const newTask = (group: RebuildTask['files'], start: number): RebuildTask => ({ files: group, start, maxRows: PART_ROWS, stagePath: path.join(stageDir, `part-${seq++}.db`), tags: withTags });
    const tasks: RebuildTask[] = queue.map((group) => newTask(group, 0));
    const maxInFlight = opts.parallel + 1; // parts being read or staged and not yet inserted
    const ready: RebuildResult[] = [];
    let inFlight = 0;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    const submit = () => {
      while (inFlight < maxInFlight && tasks.length > 0) {
        const task = tasks.shift()!;
        inFlight++;
        pool.run(task).then((r) => {
          // The rest of the task comes first, so that one file is finished before others start.
          if (r.next) tasks.unshift(newTask(task.files.slice(r.next.fileIndex), r.next.start));
          ready.push(r);
          wake?.();
        }, (err) => {
          failure ??= err;
          wake?.();
        });
      }
    };
    const insertSql = `INSERT OR IGNORE INTO events (id, kind, pubkey, created_at, file_path, indexed_at, member_offset, offset_in_member)
      SELECT id, kind, pubkey, created_at, file_path, ${Math.floor(Date.now() / 1000)}, member_offset, offset_in_member FROM part.${STAGE_TABLE}`;
    const insertTagsSql = `INSERT OR IGNORE INTO tags (name, value, event_id) SELECT name, value, event_id FROM part.${STAGE_TAGS_TABLE} ORDER BY name, value, event_id`;
    submit();
    while (inFlight > 0) {
      if (failure) throw failure;
      if (ready.length === 0) {
        await new Promise<void>((resolve) => { wake = resolve; });
        wake = undefined;
        continue;
      }
      const r = ready.shift()!;
      damaged.push(...r.damage);
      events += r.rows;
      if (r.rows > 0) {
        db.prepare('ATTACH ? AS part').run(r.task.stagePath);
        db.exec('BEGIN');
        inserted += db.prepare(insertSql).run().changes;
        if (withTags) db.prepare(insertTagsSql).run();
        db.exec('COMMIT');
        db.exec('DETACH part');
        failpoint('rebuild-part');
      }
      fs.rmSync(r.task.stagePath, { force: true });
      inFlight--;
      submit();
    }
    if (failure) throw failure;
    loadSeconds = (performance.now() - started) / 1000;
    if (progress) progress.phase = 'building the secondary indexes';
    const indexStarted = performance.now();
    finishIndex(db);
    indexSeconds = (performance.now() - indexStarted) / 1000;
    const rows = countRows(db);
    if (rows !== inserted) throw new Error(`index row count ${rows} differs from rows inserted ${inserted}`);
    db.close();
  } catch (err) {
    if (db.open) db.close();
    removeIndex(tempPath);
    throw asFatal(err, tempPath);
  } finally {
    progress?.stop();
    await pool.close();
    fs.rmSync(stageDir, { recursive: true, force: true });
  }
  try {
    failpoint('rebuild-rename-before');
    // rename replaces the old index atomically; only its journal files, if any, go first.
    removeIndex(indexPath, false);
    fs.renameSync(tempPath, indexPath);
    failpoint('rebuild-rename-after');
  } catch (err) {
    throw new FatalError(`cannot replace ${describeFsError(err, indexPath)}`);
  }
  return {
    indexPath, files: files.length, events, duplicates: events - inserted, damaged: damaged.sort(),
    loadSeconds, indexSeconds, seconds: (performance.now() - started) / 1000,
  };
}

/** Consecutive day files grouped up to GROUP_BYTES (a larger file is a group of its own). */
function groupFiles(files: { path: string; name: string }[]): { path: string; name: string }[][] {
  const groups: { path: string; name: string }[][] = [];
  let group: { path: string; name: string }[] = [];
  let bytes = 0;
  for (const f of files) {
    let size = 0;
    try {
      size = fs.statSync(f.path).size;
    } catch {
      // reported when read
    }
    if (group.length > 0 && bytes + size > GROUP_BYTES) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(f);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** Removes an SQLite file and the journal files beside it (or only those). */
/** What a rebuild that was killed left beside the index (the caller holds the folder's lock). */
export function removeRebuildLeftovers(indexPath: string): void {
  const dir = path.dirname(indexPath);
  const prefix = `${path.basename(indexPath)}.rebuild-`;
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) if (name.startsWith(prefix)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
}

/** A failure while building the new index, as one line naming the file (a full disk, above all). */
function asFatal(err: unknown, file: string): FatalError {
  if (err instanceof FatalError) return err;
  const e = asError(err) as NodeJS.ErrnoException;
  if (e.code === 'SQLITE_FULL' || e.code === 'ENOSPC') return new FatalError(`cannot build ${file}: no space left on device (the old index, if any, is unchanged)`);
  return new FatalError(`cannot build ${file}: ${describeFsError(e, path.dirname(file))}`);
}

/** Whether an existing index has the tags table (a rebuild then keeps it); false when there is none or it is unreadable. */
function indexHasTags(indexPath: string): boolean {
  if (!fs.existsSync(indexPath)) return false;
  try {
    const { db } = openIndexForRead(indexPath, false);
    try {
      return hasTagsTable(db);
    } finally {
      db.close();
    }
  } catch {
    return false;
  }
}
