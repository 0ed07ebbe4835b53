/**
 * `query.ts`: events found through the index, read from the day files at the places the index
 * records, and handed out in pages (memory stays flat however many match).
 *
 * Filters follow NIP-01: several ids, authors or kinds match any of them; different filters
 * must all match; since and until are inclusive; `limit` keeps the newest (ties: smallest id).
 * Events come newest first (NIP-01, and Proton Beam's index queries: ORDER BY created_at DESC),
 * ties by smallest id; `order: 'oldest'` gives the same events in exactly the reverse order.
 */
import type { NostrEvent } from '../nostr/codec.ts';
import { FatalError, UsageError } from '../cli/errors.ts';
import { hasTagsTable } from './tags.ts';
import type { IndexDb } from './db.ts';
import { openIndexForRead } from './db.ts';
import { readLocatedEvents, type EventLocation } from '../day-files/read-events.ts';
import { MemberCache } from '../day-files/member-cache.ts';

export interface EventFilter {
  ids?: string[];
  authors?: string[];
  kinds?: number[];
  since?: number;
  until?: number;
  limit?: number;
  /** Tag letter -> values (`#e`, `#p`, ...): an event with one of the values in a tag of that letter. */
  tags?: Record<string, string[]>;
  /** Another filter the events must match too (flags and a --filter JSON together). */
  also?: EventFilter;
}

/** Newest first (created_at descending, then smallest id), or exactly the reverse. */
export type QueryOrder = 'newest' | 'oldest';

export interface QueryOptions {
  order?: QueryOrder;
}

const ORDER_BY: Record<QueryOrder, string> = {
  newest: 'ORDER BY created_at DESC, id ASC',
  oldest: 'ORDER BY created_at ASC, id DESC',
};

/** Rows read from the day files together, and handed out as one page. */
const PAGE_ROWS = 4096;
/**
 * Pages in time order need the same gzip members again (a day's members each hold events from
 * all over the day): their messages are kept up to this many bytes, so a member is inflated
 * once whenever the members that a day's matches need fit in it; beyond that, once per page.
 */
const MEMBER_CACHE_BYTES = 64 << 20;
/** SQLite's page cache for a query. */
const QUERY_CACHE_KIB = 64 << 10;
/** SQLite's limit on bound values is 32766; more values go through a temporary table. */
const MAX_IN_VALUES = 1000;

/** The WHERE clause and values for a filter. */
export function filterSql(f: EventFilter): { where: string; params: (string | number)[] } {
  const clauses: string[] = [];
  const params: (string | number)[] = [];
  const inList = (column: string, values: (string | number)[] | undefined) => {
    if (!values || values.length === 0) return;
    if (values.length > MAX_IN_VALUES) throw new UsageError(`at most ${MAX_IN_VALUES} values for ${column}`);
    clauses.push(values.length === 1 ? `${column} = ?` : `${column} IN (${values.map(() => '?').join(', ')})`);
    params.push(...values);
  };
  inList('id', f.ids);
  inList('pubkey', f.authors);
  inList('kind', f.kinds);
  if (f.since !== undefined) {
    clauses.push('created_at >= ?');
    params.push(f.since);
  }
  if (f.until !== undefined) {
    clauses.push('created_at <= ?');
    params.push(f.until);
  }
  for (const [letter, values] of Object.entries(f.tags ?? {})) {
    if (values.length === 0) continue;
    if (values.length > MAX_IN_VALUES) throw new UsageError(`at most ${MAX_IN_VALUES} values for tag ${letter}`);
    clauses.push(`id IN (SELECT event_id FROM tags WHERE name = ? AND value IN (${values.map(() => '?').join(', ')}))`);
    params.push(letter, ...values);
  }
  if (f.also) {
    const inner = filterSql(f.also);
    if (inner.where) clauses.push(inner.where.slice('WHERE '.length));
    params.push(...inner.params);
  }
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', params };
}

/**
 * Yields the matching events page by page. `problem` gets one line for each event that the
 * index names but cannot be read (missing or damaged file, out-of-date index).
 */
export async function* queryEvents(
  dir: string,
  indexPath: string,
  filter: EventFilter,
  problem: (text: string) => void,
  { order = 'newest' }: QueryOptions = {},
): AsyncGenerator<NostrEvent[]> {
  if (!(order in ORDER_BY)) throw new UsageError(`order must be newest or oldest, not '${order}'`);
  const { db, schema } = openIndexForRead(indexPath);
  try {
    requireTags(db, indexPath, filter);
  } catch (err) {
    db.close();
    throw err;
  }
  filter = { ...filter, limit: limitOf(filter) };
  let rows: IterableIterator<EventLocation> | undefined;
  try {
    // Newest first walks idx_created_at and looks each row up in the table out of order; with
    // the default cache (2 MB: 31 of the index's 64 KiB pages) that was ~4x slower (measured).
    db.pragma(`cache_size = -${QUERY_CACHE_KIB}`);
    const { where, params } = filterSql(filter);
    const location = schema.hasLocations ? 'member_offset, offset_in_member' : 'NULL AS member_offset, NULL AS offset_in_member';
    // SQLite sorts (through idx_created_at, or a temporary b-tree), not this process. A limit
    // always keeps the newest; 'oldest' then reverses them.
    const columns = `id, file_path, ${location}, created_at`;
    const sql = filter.limit === undefined
      ? `SELECT ${columns} FROM events ${where} ${ORDER_BY[order]}`
      : order === 'newest'
        ? `SELECT ${columns} FROM events ${where} ${ORDER_BY.newest} LIMIT ?`
        : `SELECT * FROM (SELECT ${columns} FROM events ${where} ${ORDER_BY.newest} LIMIT ?) ${ORDER_BY.oldest}`;
    rows = db.prepare(sql).iterate(...params, ...(filter.limit === undefined ? [] : [filter.limit])) as IterableIterator<EventLocation>;
    const cache = new MemberCache(MEMBER_CACHE_BYTES);
    let page: EventLocation[] = [];
    for (const row of rows) {
      page.push(row);
      if (page.length >= PAGE_ROWS) {
        yield await readLocatedEvents(dir, page, problem, cache);
        page = [];
      }
    }
    if (page.length) yield await readLocatedEvents(dir, page, problem, cache);
  } finally {
    rows?.return?.();
    db.close();
  }
}

/** The smallest limit of a filter and the filters it must match too. */
function limitOf(f: EventFilter): number | undefined {
  const inner = f.also ? limitOf(f.also) : undefined;
  return f.limit === undefined ? inner : inner === undefined ? f.limit : Math.min(f.limit, inner);
}

const usesTags = (f: EventFilter | undefined): boolean =>
  f !== undefined && (Object.values(f.tags ?? {}).some((v) => v.length > 0) || usesTags(f.also));

function requireTags(db: IndexDb, indexPath: string, filter: EventFilter): void {
  if (usesTags(filter) && !hasTagsTable(db)) {
    throw new FatalError(`${indexPath}: has no tags table (convert indexes tags with --index-tags); add it for tag queries with: npx tsx scripts/index.ts rebuild --tags`);
  }
}

/** How many events match, from the index alone (no day file is read). */
export function countEvents(indexPath: string, filter: EventFilter): number {
  const { db } = openIndexForRead(indexPath);
  try {
    requireTags(db, indexPath, filter);
    const { where, params } = filterSql(filter);
    const limit = limitOf(filter);
    const sql = limit === undefined
      ? `SELECT count(*) AS n FROM events ${where}`
      : `SELECT count(*) AS n FROM (SELECT 1 FROM events ${where} LIMIT ?)`;
    return (db.prepare(sql).get(...params, ...(limit === undefined ? [] : [limit])) as { n: number }).n;
  } finally {
    db.close();
  }
}
