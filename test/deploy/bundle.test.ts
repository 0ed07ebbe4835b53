// The code bundle: the working tree without node_modules, ignored files, deploy.env or big data files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { $ } from 'zx';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { MAX_FILE_BYTES, createBundle, hashFiles, listBundleFiles, uploadBundle } from '../../lib/deploy/bundle.ts';
import { startS3 } from '../helpers/s3.ts';

function tree(withGit: boolean) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-bundle-test-'));
  const write = (f: string, text = f) => {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  };
  write('package.json', '{"name":"x"}');
  write('package-lock.json', '{}');
  write('lib/a.ts');
  write('scripts/job.ts');
  write('.gitignore', 'pb_data/\n*.log\n');
  write('node_modules/dep/index.js');
  write('deploy.env', 'AWS_PROFILE=secret\n');
  write('pb_data/2024_01_01.pb.gz');
  write('run.log');
  write('dump.jsonl', '');
  fs.truncateSync(path.join(dir, 'dump.jsonl'), MAX_FILE_BYTES + 1);
  return { dir, write, ready: withGit ? $({ cwd: dir, quiet: true })`git init -q && git add package.json lib` : Promise.resolve() };
}

test('tracked and untracked files, never node_modules, deploy.env, ignored or big files', async () => {
  const t = tree(true);
  await t.ready;
  const notes: string[] = [];
  const files = await listBundleFiles(t.dir, (l) => notes.push(l));
  assert.deepEqual(files, ['.gitignore', 'lib/a.ts', 'package-lock.json', 'package.json', 'scripts/job.ts']);
  assert.match(notes.join('\n'), /leaving dump.jsonl \(20 MiB\) out of the bundle/);
  const bundle = await createBundle(t.dir, files);
  assert.equal(bundle.files, 5);
  assert.match(path.basename(bundle.file), /^[0-9a-f]{16}\.tgz$/);
  const listing = (await $({ quiet: true })`tar -tzf ${bundle.file}`).stdout.trim().split('\n').sort();
  assert.deepEqual(listing, files);
  fs.rmSync(t.dir, { recursive: true });
});

test('the archive is reproducible: the same tree gives the same bytes whenever it is packed; modes survive the instance\'s tar -x', async () => {
  const t = tree(false);
  fs.chmodSync(path.join(t.dir, 'scripts/job.ts'), 0o755);
  const files = ['lib/a.ts', 'package-lock.json', 'package.json', 'scripts/job.ts'];
  const first = await createBundle(t.dir, files);
  // Another day, another umask and owner: only the content and the executable bit count.
  for (const f of files) fs.utimesSync(path.join(t.dir, f), new Date('2031-05-06'), new Date('2031-05-06'));
  fs.chmodSync(path.join(t.dir, 'lib/a.ts'), 0o600);
  const second = await createBundle(t.dir, files);
  assert.equal(second.sha256, first.sha256);
  assert.notEqual(first.file, second.file);
  t.write('lib/a.ts', 'changed');
  assert.notEqual((await createBundle(t.dir, files)).sha256, first.sha256);

  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-bundle-x-'));
  await $({ cwd: out, quiet: true })`tar -xzf ${first.file} --no-same-owner`; // as the SSM document unpacks it
  assert.equal(fs.readFileSync(path.join(out, 'lib/a.ts'), 'utf8'), 'lib/a.ts');
  assert.ok((fs.statSync(path.join(out, 'scripts/job.ts')).mode & 0o111) !== 0, 'job.ts stays executable');
  assert.equal(fs.statSync(path.join(out, 'lib/a.ts')).mode & 0o111, 0);
  fs.rmSync(out, { recursive: true });
  fs.rmSync(t.dir, { recursive: true });
});

test('without git the tree is walked, with the same exclusions', async () => {
  const t = tree(false);
  const files = await listBundleFiles(t.dir);
  assert.ok(!files.some((f) => f.startsWith('node_modules') || f === 'deploy.env' || f.startsWith('pb_data') || f === 'dump.jsonl'), files.join(' '));
  assert.ok(files.includes('lib/a.ts'));
  fs.rmSync(t.dir, { recursive: true });
});

test('the name is a hash of the content: stable, and new when a file changes', async () => {
  const t = tree(false);
  const files = ['lib/a.ts', 'package.json'];
  const h1 = hashFiles(t.dir, files);
  assert.equal(hashFiles(t.dir, files), h1);
  t.write('lib/a.ts', 'changed');
  assert.notEqual(hashFiles(t.dir, files), h1);
  await assert.rejects(createBundle(t.dir, ['lib/a.ts']), /no package.json and package-lock.json/);
  fs.rmSync(t.dir, { recursive: true });
});

test('the bundle carries its full SHA-256; an uploaded one is reused only when S3\'s ChecksumSHA256 matches it', async () => {
  const t = tree(false);
  const bundle = await createBundle(t.dir, ['lib/a.ts', 'package-lock.json', 'package.json']);
  assert.equal(bundle.sha256, crypto.createHash('sha256').update(fs.readFileSync(bundle.file)).digest('hex'));
  const local = await startS3(['b'], { checksums: true });
  try {
    const notes: string[] = [];
    const key = `run/_deploy/${bundle.hash}.tgz`;
    // An object of that name with other bytes (a different tar of the same files, or a tampered one).
    await local.s3.send(new PutObjectCommand({ Bucket: 'b', Key: key, Body: 'not this bundle' }));
    assert.equal(await uploadBundle(local.s3, 'b', 'run/_deploy/', bundle, (l) => notes.push(l)), key);
    assert.match(notes.join('\n'), /exists but S3 has no SHA-256 of it: uploading it again/);
    const put = local.requests.filter((r) => r.method === 'PUT').at(-1)!;
    assert.equal(put.headers['x-amz-checksum-sha256'], Buffer.from(bundle.sha256, 'hex').toString('base64'), 'S3 checks the bytes on upload');
    const stored = await local.s3.send(new GetObjectCommand({ Bucket: 'b', Key: key }));
    assert.ok(Buffer.from(await stored.Body!.transformToByteArray()).equals(fs.readFileSync(bundle.file)));

    const before = local.requests.length;
    await uploadBundle(local.s3, 'b', 'run/_deploy/', bundle, (l) => notes.push(l));
    assert.match(notes.at(-1)!, new RegExp(`already uploaded \\(SHA-256 ${bundle.sha256} checked\\)`));
    assert.ok(!local.requests.slice(before).some((r) => r.method === 'PUT'), 'not uploaded again');
    // No HeadObject of a missing key: existence by listing (a prefix-limited s3:ListBucket allows it).
    assert.ok(!local.requests.some((r) => r.method === 'HEAD' && r.status === 404));
  } finally {
    await local.close();
    fs.rmSync(t.dir, { recursive: true });
  }
});
