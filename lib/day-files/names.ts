/** Day files: one gzip'd protobuf file per UTC day of created_at, named YYYY_MM_DD.pb.gz. */
import fs from 'node:fs';

const SECONDS_PER_DAY = 86400;
export const DAY_FILE_PATTERN = /^(\d{4})_(\d{2})_(\d{2})\.pb\.gz$/;

/** Days since 1970-01-01 (UTC) of a created_at in seconds. */
export const dayOf = (createdAt: number): number => Math.floor(createdAt / SECONDS_PER_DAY);

/** The day of a day file's name (YYYY_MM_DD.pb.gz); NaN for another name. */
export function dayOfFileName(name: string): number {
  const m = DAY_FILE_PATTERN.exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / 1000 / SECONDS_PER_DAY : NaN;
}

export function dayFileName(day: number): string {
  const d = new Date(day * SECONDS_PER_DAY * 1000);
  const yyyy = String(d.getUTCFullYear()).padStart(4, '0');
  const mm = String(d.getUTCMonth() + 1).padStart(2, '0');
  const dd = String(d.getUTCDate()).padStart(2, '0');
  return `${yyyy}_${mm}_${dd}.pb.gz`;
}

/** Cuts a day file back to `size` bytes (a file cut back to nothing is removed). */
export function cutDayFileBack(filePath: string, size: number): void {
  if (size === 0) fs.rmSync(filePath, { force: true });
  else fs.truncateSync(filePath, size);
}

/** The day files in `dir`, sorted by name (that is, by day). */
export function listDayFiles(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => DAY_FILE_PATTERN.test(n)).sort();
}
