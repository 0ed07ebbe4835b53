/**
 * A point in time given on the command line: Unix seconds, or an ISO 8601 date or date-time
 * (2025-01-03, 2025-01-03T12:00, 2025-01-03T12:00:00Z, ...+02:00); without a zone it is UTC.
 * A bare date is the day's first second, or with `endOfDay` its last (so that --until
 * 2025-01-03 includes that day).
 */
import { UsageError } from './errors.ts';

const MAX_SECONDS = 253402300799; // 9999-12-31T23:59:59Z
const ISO = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?$/i;

export function parseTime(name: string, value: string, endOfDay = false): number {
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    if (n > MAX_SECONDS) throw new UsageError(`--${name} ${value}: later than the year 9999`);
    return n;
  }
  const m = ISO.exec(v);
  const bad = () => new UsageError(`--${name} takes Unix seconds or an ISO date (2025-01-03, 2025-01-03T12:00:00Z), not '${value}'`);
  if (!m) throw bad();
  const [, date, time, zone] = m;
  const iso = time === undefined ? `${date}T00:00:00Z` : `${date}T${time}${zone ?? 'Z'}`;
  const ms = Date.parse(iso);
  // Date.parse rolls 2025-02-30 over to March: a date that does not exist is refused.
  if (Number.isNaN(ms) || new Date(Date.parse(`${date}T00:00:00Z`)).toISOString().slice(0, 10) !== date) throw bad();
  const seconds = Math.floor(ms / 1000) + (time === undefined && endOfDay ? 86399 : 0);
  if (seconds < 0 || seconds > MAX_SECONDS) throw new UsageError(`--${name} ${value}: outside 1970..9999`);
  return seconds;
}
