/**
 * The code bundle: this working tree (tracked and untracked files that git does not ignore, never
 * node_modules) as OUTPUT/_deploy/<hash>.tgz, named by a hash of its content so that an
 * unchanged tree is uploaded once.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { $ } from 'zx';
import { HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { FatalError } from '../cli/errors.ts';
import type { Print } from './aws.ts';

/** Files above this size are left out (with a warning): data has no place in the code bundle. */
export const MAX_FILE_BYTES = 20 * 1024 * 1024;
/** Every entry's time: a date, not the files' own, so that the archive depends on content alone. */
const FIXED_TIME = new Date('2000-01-01T00:00:00Z');
const ALWAYS_EXCLUDED = /(^|\/)(node_modules|\.git)(\/|$)|^deploy\.env$/;

/** Lists the files to ship, relative to root, sorted. */
export async function listBundleFiles(root: string, print: Print = () => {}): Promise<string[]> {
  let files: string[];
  try {
    const res = await $({ cwd: root, quiet: true })`git ls-files -z --cached --others --exclude-standard`;
    files = res.stdout.split('\0').filter(Boolean);
  } catch {
    files = walk(root, '');
  }
  const kept: string[] = [];
  for (const f of files) {
    if (ALWAYS_EXCLUDED.test(f)) continue;
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(path.join(root, f));
    } catch {
      continue; // deleted in the working tree
    }
    if (!stat.isFile()) continue;
    if (stat.size > MAX_FILE_BYTES) {
      print(`leaving ${f} (${Math.round(stat.size / 1048576)} MiB) out of the bundle: add it to .gitignore`);
      continue;
    }
    kept.push(f);
  }
  return kept.sort();
}

function walk(root: string, rel: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${entry.name}` : entry.name;
    if (ALWAYS_EXCLUDED.test(p) || /^(pb_data|out|\.bench)$/.test(p)) continue;
    if (entry.isDirectory()) out.push(...walk(root, p));
    else if (entry.isFile()) out.push(p);
  }
  return out;
}

/** 16 hex digits of SHA-256 over the names, modes and contents of the files. */
export function hashFiles(root: string, files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) {
    const full = path.join(root, f);
    const executable = (fs.statSync(full).mode & 0o111) !== 0;
    h.update(`${f}\0${executable ? 'x' : '-'}\0`);
    h.update(fs.readFileSync(full));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

export interface Bundle {
  /** 16 hex digits over the files' names, modes and contents: the object's name. */
  hash: string;
  file: string;
  files: number;
  bytes: number;
  /** Full SHA-256 (hex) of the .tgz itself: the SSM document checks it before unpacking. */
  sha256: string;
}

/**
 * Writes the .tgz of `files` into a temporary directory. The archive is reproducible: entries in
 * the given (sorted) order, a fixed time, owner and group 0, mode 644 or 755, no gzip time; so the
 * same tree gives the same bytes, whose SHA-256 the reuse check in uploadBundle compares.
 */
export async function createBundle(root: string, files: string[]): Promise<Bundle> {
  if (!files.includes('package.json') || !files.includes('package-lock.json')) {
    throw new FatalError(`${root} has no package.json and package-lock.json: the bundle needs both (npm ci)`);
  }
  const hash = hashFiles(root, files);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-bundle-'));
  const file = path.join(dir, `${hash}.tgz`);
  const pack = tar.pack();
  const written = pipeline(pack, zlib.createGzip({ level: 9 }), fs.createWriteStream(file));
  for (const f of files) {
    const full = path.join(root, f);
    const executable = (fs.statSync(full).mode & 0o111) !== 0;
    const body = fs.readFileSync(full);
    await new Promise<void>((resolve, reject) => {
      pack.entry({ name: f, size: body.length, mode: executable ? 0o755 : 0o644, mtime: FIXED_TIME, uid: 0, gid: 0, uname: '', gname: '' }, body, (err) => (err ? reject(err) : resolve()));
    });
  }
  pack.finalize();
  await written;
  const sha256 = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  return { hash, file, files: files.length, bytes: fs.statSync(file).size, sha256 };
}

/**
 * Uploads the bundle unless the very same bytes are already there: an object of that name is
 * reused only when S3's ChecksumSHA256 of it is the bundle's SHA-256 (the SSM document checks
 * the same digest before unpacking, so a different object would fail on the instance). Existence
 * by ListObjectsV2 with Prefix (allowed by a prefix-limited s3:ListBucket, unlike a HeadObject of
 * a missing key). The upload carries the checksum: S3 refuses bytes that do not match it.
 * Returns the key.
 */
export async function uploadBundle(s3: S3Client, bucket: string, keyPrefix: string, bundle: Bundle, print: Print): Promise<string> {
  const key = `${keyPrefix}${bundle.hash}.tgz`;
  const url = `s3://${bucket}/${key}`;
  const checksum = Buffer.from(bundle.sha256, 'hex').toString('base64');
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
  if ((listed.Contents ?? []).some((o) => o.Key === key)) {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    if (head.ChecksumSHA256 === checksum) {
      print(`bundle ${url} already uploaded (SHA-256 ${bundle.sha256} checked)`);
      return key;
    }
    print(`bundle ${url} exists but ${head.ChecksumSHA256 ? `its SHA-256 is not this bundle's` : 'S3 has no SHA-256 of it'}: uploading it again`);
  }
  await s3.send(new PutObjectCommand({
    Bucket: bucket, Key: key, Body: fs.readFileSync(bundle.file), ContentType: 'application/gzip', ChecksumSHA256: checksum,
  }));
  print(`uploaded bundle ${url} (${bundle.files} files, ${Math.ceil(bundle.bytes / 1024)} KiB, SHA-256 ${bundle.sha256})`);
  return key;
}
