/** The folder of day files: made ready for writing, or checked before reading, with one clear line when it cannot be. */
import fs from 'node:fs';
import path from 'node:path';
import { FatalError, describeFsError } from '../cli/errors.ts';

/**
 * Creates `dir` and its missing parents one at a time (Node's recursive mkdir loops forever on
 * some file systems, e.g. under /proc), then checks that it can be written.
 */
export function prepareOutputFolder(dir: string): void {
  const missing: string[] = [];
  let at = path.resolve(dir);
  for (;;) {
    const st = statOrMissing(at);
    if (st?.isDirectory()) break;
    if (st) throw new FatalError(`cannot write to output folder ${dir}: ${at} is a file, not a folder`);
    missing.unshift(at);
    const parent = path.dirname(at);
    if (parent === at) break;
    at = parent;
  }
  try {
    for (const folder of missing) makeFolderOnce(folder);
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw new FatalError(`cannot write to output folder ${describeFsError(err, dir)}`);
  }
}

/**
 * mkdir that leaves a folder made meanwhile by another process alone: two converts started
 * together into a new folder both find it missing, and the second mkdir meets the first's folder.
 * (The folder lock, taken next, decides which of them writes.)
 */
export function makeFolderOnce(folder: string): void {
  try {
    fs.mkdirSync(folder);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statOrMissing(folder)?.isDirectory()) throw err;
  }
}

/** For the readers (query, stats): `dir` must be an existing folder; a file given instead is named as such. */
export function requireDayFileFolder(dir: string, command: string): void {
  const st = fs.statSync(dir, { throwIfNoEntry: false });
  if (!st) throw new FatalError(`${dir}: no such folder; ${command} takes the folder that convert wrote (default ./pb_data)`);
  if (!st.isDirectory()) throw new FatalError(`${dir} is a file; ${command} takes the folder that convert wrote (default ./pb_data), not a file in it`);
}

/** The entry's stat, or undefined when it does not exist (also when a parent is a file). */
function statOrMissing(at: string): fs.Stats | undefined {
  try {
    return fs.statSync(at, { throwIfNoEntry: false });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}
