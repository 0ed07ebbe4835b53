/**
 * Events per day (UTC) and the kinds over time, from the index: the main kinds (the most
 * common overall) get a column each, the rest are summed as "other".
 */
import type { IndexDb } from './db.ts';

export interface DailyKinds {
  /** The main kinds, most common first. */
  kinds: number[];
  days: { day: string; total: number; byKind: number[]; other: number }[];
}

export function dailyKinds(db: IndexDb, mainKinds = 5): DailyKinds {
  const kinds = (db.prepare('SELECT kind FROM events GROUP BY kind ORDER BY count(*) DESC, kind LIMIT ?').all(mainKinds) as { kind: number }[]).map((r) => r.kind);
  const column = new Map(kinds.map((k, i) => [k, i]));
  const rows = db.prepare('SELECT created_at - (created_at % 86400 + 86400) % 86400 AS day, kind, count(*) AS n FROM events GROUP BY day, kind ORDER BY day').all() as { day: number; kind: number; n: number }[];
  const days: DailyKinds['days'] = [];
  let current: DailyKinds['days'][number] | undefined;
  let currentDay: number | undefined;
  for (const r of rows) {
    if (r.day !== currentDay) {
      currentDay = r.day;
      current = { day: isoDay(r.day), total: 0, byKind: kinds.map(() => 0), other: 0 };
      days.push(current);
    }
    current!.total += r.n;
    const c = column.get(r.kind);
    if (c === undefined) current!.other += r.n;
    else current!.byKind[c] += r.n;
  }
  return { kinds, days };
}

export function formatDailyKinds(d: DailyKinds): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const header = ['day', 'events', ...d.kinds.map((k) => `kind ${k}`), 'other'];
  const rows = d.days.map((r) => [r.day, n(r.total), ...r.byKind.map(n), n(r.other)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '  ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return ['  events per day (UTC), by kind', line(header), ...rows.map(line)].join('\n');
}

/** YYYY-MM-DD of a day's first second; the seconds themselves beyond what a Date can hold. */
function isoDay(seconds: number): string {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? String(seconds) : d.toISOString().slice(0, 10);
}
