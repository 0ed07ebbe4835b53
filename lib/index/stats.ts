/** `index.ts stats`: what an index holds. */
import { openIndexForRead } from './db.ts';

export interface IndexStats {
  events: number;
  uniquePubkeys: number;
  files: number;
  earliest: number | null;
  latest: number | null;
  topKinds: { kind: number; count: number }[];
}

export function indexStats(indexPath: string, topKinds = 10): IndexStats {
  const { db } = openIndexForRead(indexPath);
  try {
    const one = (sql: string) => (db.prepare(sql).get() as { v: number | null }).v;
    return {
      events: one('SELECT count(*) AS v FROM events') ?? 0,
      uniquePubkeys: one('SELECT count(DISTINCT pubkey) AS v FROM events') ?? 0,
      files: one('SELECT count(DISTINCT file_path) AS v FROM events') ?? 0,
      earliest: one('SELECT min(created_at) AS v FROM events'),
      latest: one('SELECT max(created_at) AS v FROM events'),
      topKinds: db.prepare('SELECT kind, count(*) AS count FROM events GROUP BY kind ORDER BY count DESC, kind LIMIT ?').all(topKinds) as IndexStats['topKinds'],
    };
  } finally {
    db.close();
  }
}

export function formatStats(s: IndexStats, indexPath: string): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const time = (t: number | null) => (t === null ? '-' : `${new Date(t * 1000).toISOString().replace('.000Z', 'Z')} (${t})`);
  const lines = [
    `Index ${indexPath}`,
    `  events          ${n(s.events)}`,
    `  unique pubkeys  ${n(s.uniquePubkeys)}`,
    `  files           ${n(s.files)}`,
    `  earliest        ${time(s.earliest)}`,
    `  latest          ${time(s.latest)}`,
    `  most common kinds`,
  ];
  for (const k of s.topKinds) {
    lines.push(`    ${String(k.kind).padStart(6)}  ${n(k.count).padStart(12)}  ${s.events ? ((100 * k.count) / s.events).toFixed(1) : '0.0'}%`);
  }
  return lines.join('\n');
}
