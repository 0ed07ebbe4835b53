/**
 * What tells one input from another, and one version of it from the next (InputIdentity), for
 * every kind of input; and the comparison a resume makes, told in one line.
 */
import path from 'node:path';
import type { InputIdentity } from './record.ts';

/** A local file: its absolute path, size and modification time. */
export function fileIdentity(filePath: string, stat: { size: number; mtimeMs: number }): InputIdentity {
  return { spec: path.resolve(filePath), kind: 'file', size: stat.size, mtimeMs: Math.floor(stat.mtimeMs) };
}

/** An http(s):// URL or one s3://bucket/key object: strong ETag (else Last-Modified) and size, from the response. */
export function remoteIdentity(kind: 'http' | 's3-object', spec: string, validator: string | undefined, size: number | undefined): InputIdentity {
  return { spec, kind, ...(size !== undefined ? { size } : {}), ...(validator ? { validator } : {}) };
}

/** s3://bucket/prefix/: every object read, in order, with its size and ETag. */
export function prefixIdentity(spec: string, objects: { key: string; size: number; etag: string }[]): InputIdentity {
  return { spec, kind: 's3-prefix', size: objects.reduce((n, o) => n + o.size, 0), objects };
}

/** Standard input is read once: never resumable. */
export const stdinIdentity = (): InputIdentity => ({ spec: '-', kind: 'stdin' });

/** Whether a run can resume reading this input at an offset at all. */
export function resumable(id: InputIdentity): boolean {
  if (id.kind === 'stdin') return false;
  // Without a validator an http resource cannot be told from a changed one.
  if (id.kind === 'http' || id.kind === 's3-object') return id.validator !== undefined && id.size !== undefined;
  return true;
}

/** e.g. `/data/dump.jsonl (size 1,234, mtime 2026-11-30T10:00:00.000Z)`. */
export function describeIdentity(id: InputIdentity): string {
  const parts: string[] = [];
  if (id.size !== undefined) parts.push(`size ${id.size.toLocaleString('en-US')}`);
  if (id.mtimeMs !== undefined) parts.push(`mtime ${new Date(id.mtimeMs).toISOString()}`);
  if (id.validator !== undefined) parts.push(`${id.validator.startsWith('"') ? 'etag' : 'last-modified'} ${id.validator}`);
  if (id.objects) parts.push(`${id.objects.length} objects`);
  return parts.length ? `${id.spec} (${parts.join(', ')})` : id.spec;
}

/**
 * Why `saved` (a checkpoint's input) is not `current`, in one line, or undefined when they are the
 * same input in the same version. For a prefix, the first object that differs is named.
 */
export function identityDifference(saved: InputIdentity, current: InputIdentity): string | undefined {
  const same = saved.spec === current.spec && saved.kind === current.kind && saved.size === current.size
    && saved.mtimeMs === current.mtimeMs && saved.validator === current.validator;
  let objectNote = '';
  if (same && (saved.objects || current.objects)) {
    const a = saved.objects ?? [];
    const b = current.objects ?? [];
    const i = a.findIndex((o, k) => !b[k] || b[k].key !== o.key || b[k].size !== o.size || b[k].etag !== o.etag);
    if (i >= 0) {
      const was = a[i];
      const now = b[i];
      objectNote = `; object ${i + 1} was ${was.key} (size ${was.size}, etag ${was.etag}), now ${now ? `${now.key} (size ${now.size}, etag ${now.etag})` : 'missing'}`;
    } else if (b.length !== a.length) {
      objectNote = `; ${a.length} objects then, ${b.length} now`;
    } else {
      return undefined;
    }
  } else if (same) {
    return undefined;
  }
  return `checkpoint is for ${describeIdentity(saved)}, input is ${describeIdentity(current)}${objectNote}`;
}
