import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { LOCK_NAME, OWNER_NAME, lockFolder, lockState } from '../../lib/day-files/folder-lock.ts';
import { tempDir } from '../helpers/common.ts';
import { makeFolderOnce } from '../../lib/day-files/folder.ts';

/** A lock as a process that is gone (or elsewhere) left it. */
function leftLock(dir: string, holder: { pid: number; host: string }): void {
  fs.mkdirSync(path.join(dir, LOCK_NAME));
  fs.writeFileSync(path.join(dir, OWNER_NAME), JSON.stringify({ ...holder, startedAt: '2026-01-01T00:00:00.000Z', command: 'convert x' }));
}

test('one holder at a time in a process too; released, the folder can be taken again, and nothing is left', async () => {
  const dir = tempDir();
  const a = await lockFolder(dir, 'convert a');
  assert.equal(lockState(dir).state, 'held');
  await assert.rejects(lockFolder(dir, 'convert b'), new RegExp(`in use by another writer \\(convert a, pid ${process.pid} on ${os.hostname()}, started `));
  await a.release();
  assert.deepEqual(fs.readdirSync(dir), []);
  const b = await lockFolder(dir, 'convert b');
  await b.release();
  assert.equal(lockState(dir).state, 'free');
});

test('a lock of this host whose pid no longer runs, or is this very process (a restart reused it), is taken over at once', async () => {
  const gone = tempDir();
  const dead = 2 ** 22 + 12345; // above Linux's pid_max
  leftLock(gone, { pid: dead, host: os.hostname() });
  assert.equal(lockState(gone).state, 'stale');
  await (await lockFolder(gone, 'convert')).release();

  const reused = tempDir();
  leftLock(reused, { pid: process.pid, host: os.hostname() });
  await (await lockFolder(reused, 'convert')).release();
});

test('a fresh lock of another host is held (only its stopped refreshes make it stale)', async () => {
  const dir = tempDir();
  leftLock(dir, { pid: 1, host: 'another-host' });
  await assert.rejects(lockFolder(dir, 'convert'), /in use by another writer \(convert x, pid 1 on another-host/);
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(path.join(dir, LOCK_NAME), old, old);
  assert.equal(lockState(dir).state, 'stale');
  await (await lockFolder(dir, 'convert')).release();
});

test('a folder another process made between our look and our mkdir is taken as it is; a file there is still an error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-mkdir-'));
  const folder = path.join(dir, 'out');
  // What the second of two converts started together meets: the folder it found missing is there now.
  fs.mkdirSync(folder);
  makeFolderOnce(folder);
  assert.ok(fs.statSync(folder).isDirectory());
  fs.writeFileSync(path.join(dir, 'file'), '');
  assert.throws(() => makeFolderOnce(path.join(dir, 'file')), /EEXIST/);
  makeFolderOnce(path.join(dir, 'new'));
  assert.ok(fs.statSync(path.join(dir, 'new')).isDirectory());
  fs.rmSync(dir, { recursive: true });
});
