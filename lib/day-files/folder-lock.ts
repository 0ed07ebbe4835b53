/**
 * One writer at a time per output folder: convert, `index.ts rebuild` and the repair of day
 * files take DIR/.proton-beam.lock; readers (query, cat, stats) never take it.
 *
 * The lock itself is proper-lockfile's (an atomic mkdir whose mtime the holder refreshes, taken
 * over when the refreshes stop). Beside it, DIR/.proton-beam.lock.json names the holder (pid,
 * host, start time, command) for the error message, and lets a holder that is gone be told at
 * once: on the same host, a holder whose pid no longer runs was killed, and its lock is stale
 * now rather than after proper-lockfile's mtime timeout (which still applies across hosts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { FatalError } from '../cli/errors.ts';

export const LOCK_NAME = '.proton-beam.lock';
export const OWNER_NAME = `${LOCK_NAME}.json`;
/** A holder on another host that stopped refreshing the lock's mtime for this long is gone. */
const STALE_MS = 30_000;
/** A lock without an owner file (killed between the two) older than this is stale. */
const NO_OWNER_STALE_MS = 2_000;

export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

export interface FolderLock {
  release(): Promise<void>;
}

/** Folders whose lock this process holds. */
const heldHere = new Set<string>();

const lockPath = (dir: string) => path.join(dir, LOCK_NAME);
const ownerPath = (dir: string) => path.join(dir, OWNER_NAME);

/** Takes the folder's lock or fails at once with a one-line FatalError naming the holder. */
export async function lockFolder(dir: string, command: string): Promise<FolderLock> {
  const me: LockHolder = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), command };
  let release: () => Promise<void>;
  try {
    release = await acquire(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw lockError(dir, err);
    if (!removeIfStale(dir)) throw await heldError(dir);
    try {
      release = await acquire(dir);
    } catch (again) {
      throw (again as NodeJS.ErrnoException).code === 'ELOCKED' ? await heldError(dir) : lockError(dir, again);
    }
  }
  heldHere.add(path.resolve(dir));
  fs.writeFileSync(ownerPath(dir), `${JSON.stringify(me)}\n`);
  const dropOwner = () => {
    if (readHolder(dir)?.pid === process.pid) fs.rmSync(ownerPath(dir), { force: true });
  };
  // proper-lockfile removes the lock itself when the process exits (signal-exit), also on process.exit.
  process.on('exit', dropOwner);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(path.resolve(dir));
      process.off('exit', dropOwner);
      dropOwner();
      await release().catch(() => {});
    },
  };
}

function acquire(dir: string): Promise<() => Promise<void>> {
  return lockfile.lock(dir, {
    lockfilePath: lockPath(dir),
    realpath: false,
    stale: STALE_MS,
    update: STALE_MS / 3,
    retries: 0,
    // The refresh was late (the machine stalled): keep going, the holder is still this process.
    onCompromised: (err) => process.stderr.write(`warning: folder lock ${lockPath(dir)}: ${err.message}\n`),
  });
}

/** The holder named in the owner file, if any. */
export function readHolder(dir: string): LockHolder | undefined {
  try {
    return JSON.parse(fs.readFileSync(ownerPath(dir), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/** True when a process of this host with that pid runs (EPERM: it runs as another user). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type LockState = { state: 'free' } | { state: 'held'; holder?: LockHolder } | { state: 'stale'; holder?: LockHolder };

/** Whether a writer holds the folder, or one was killed holding it (for readers' warnings). */
export function lockState(dir: string): LockState {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(lockPath(dir));
  } catch {
    return { state: 'free' };
  }
  const holder = readHolder(dir);
  if (holder) {
    if (holder.host === os.hostname()) {
      // Our own pid in a lock this process does not hold: a holder before a restart that reused the number.
      const alive = holder.pid === process.pid ? heldHere.has(path.resolve(dir)) : running(holder.pid);
      return alive ? { state: 'held', holder } : { state: 'stale', holder };
    }
    return Date.now() - stat.mtimeMs > STALE_MS ? { state: 'stale', holder } : { state: 'held', holder };
  }
  return Date.now() - stat.mtimeMs > NO_OWNER_STALE_MS ? { state: 'stale' } : { state: 'held' };
}

/** Removes the lock of a holder that is gone; false when it still runs. */
function removeIfStale(dir: string): boolean {
  if (lockState(dir).state !== 'stale') return false;
  fs.rmSync(ownerPath(dir), { force: true });
  fs.rmSync(lockPath(dir), { recursive: true, force: true });
  return true;
}

export function describeHolder(h: LockHolder | undefined): string {
  return h ? `${h.command}, pid ${h.pid} on ${h.host}, started ${h.startedAt}` : 'a process that has not said who it is yet';
}

/** The holder writes its owner file right after taking the lock: a writer that came in between waits for it briefly. */
async function heldError(dir: string): Promise<FatalError> {
  let holder = readHolder(dir);
  for (let tries = 0; holder === undefined && tries < 50; tries++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    holder = readHolder(dir);
  }
  return new FatalError(`${dir} is in use by another writer (${describeHolder(holder)}); wait for it to finish or stop it, then run again`);
}

function lockError(dir: string, err: unknown): FatalError {
  return new FatalError(`cannot lock ${dir} (${lockPath(dir)}): ${(err as Error).message}`);
}
