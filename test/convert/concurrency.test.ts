/**
 * One writer per folder: conversions and rebuilds into the same folder run concurrently for
 * real; the second fails at once with a line naming the first; readers neither wait nor fail.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'node:test';
import { allEvents, ROOT, SHIPPED_SAMPLE } from '../helpers/common.ts';
import { indexRows, randomSample, runScript, storedRows, tempDir, writeJsonl } from '../helpers/index.ts';

const UNSIGNED = ['--no-progress', '--validate-signatures', 'false', '--validate-event-ids', 'false'];

function start(args: string[], stdin = false) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'convert.ts'), ...args], { cwd: ROOT, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.resume();
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('close', (code) => resolve({ code, stderr })));
  return { child, exited };
}

const LOCK_MESSAGE = new RegExp(`is in use by another writer \\(convert .*, pid \\d+ on ${os.hostname()}, started \\d{4}-\\d\\d-\\d\\dT`);

test('a second convert into a folder being written fails at once naming the first (pid, host, start); rebuild too; query and stats do not wait', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const status = path.join(dir, 'status.json');
  const lines = fs.readFileSync(SHIPPED_SAMPLE, 'utf8').split('\n');
  // The first reads standard input, kept open: it holds the folder until that ends.
  const first = start(['-', '-o', out, '--status-file', status, ...UNSIGNED], true);
  first.child.stdin!.write(lines.slice(0, 300).join('\n') + '\n');
  const linesDone = () => { try { return JSON.parse(fs.readFileSync(status, 'utf8')).lines; } catch { return 0; } };
  for (let waited = 0; linesDone() < 300; waited += 100) {
    assert.ok(waited < 90_000, 'the first conversion did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const second = runScript('convert', [SHIPPED_SAMPLE, '-o', out, ...UNSIGNED]);
  assert.equal(second.status, 1, second.stderr);
  assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
  assert.match(second.stderr, LOCK_MESSAGE);
  assert.match(second.stderr, new RegExp(`pid ${first.child.pid}\\b`));

  const rebuild = runScript('index', ['rebuild', out]);
  assert.equal(rebuild.status, 1, rebuild.stderr);
  assert.match(rebuild.stderr, /is in use by another writer/);

  // Readers: an answer now, with a word that the index may not hold the newest events yet.
  const stats = runScript('index', ['stats', out]);
  assert.equal(stats.status, 0, stats.stderr);
  assert.match(stats.stderr, /is being written .*the index may not hold its newest events yet/);
  const query = runScript('query', [out, '--kind', '1']);
  assert.equal(query.status, 0, query.stderr);

  first.child.stdin!.end(lines.slice(300).join('\n'));
  const r = await first.exited;
  assert.equal(r.code, 0, r.stderr);
  const events = await allEvents(out);
  assert.equal(events.length, 600);
  assert.equal(new Set(events.map((e) => e.id)).size, 600, 'each event once');
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out));
  assert.deepEqual(fs.readdirSync(out).filter((n) => n.startsWith('.')), [], 'the lock is gone');
});

test('two converts of the same input started together: each event stored once, index rows where the events are', async () => {
  const dir = tempDir();
  const input = writeJsonl(path.join(dir, 'in.jsonl'), randomSample(3000, 51, 3));
  for (let round = 0; round < 2; round++) {
    const out = path.join(dir, `out-${round}`);
    const [a, b] = await Promise.all([start([input, '-o', out, '-j', '1', ...UNSIGNED]).exited, start([input, '-o', out, '-j', '1', ...UNSIGNED]).exited]);
    // Either one ran after the other had finished, or one was turned away by the lock.
    for (const r of [a, b]) {
      if (r.code !== 0) {
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, LOCK_MESSAGE);
      }
    }
    assert.ok(a.code === 0 || b.code === 0, `${a.stderr}${b.stderr}`);
    const events = await allEvents(out);
    assert.equal(events.length, 3000);
    assert.equal(new Set(events.map((e) => e.id)).size, 3000);
    assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out));
  }
});

test('a lock left by a writer that was killed: readers say the index may be behind and how to fix it; the next convert takes the folder over', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  const input = writeJsonl(path.join(dir, 'in.jsonl'), randomSample(400, 52, 3));
  const killed = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'convert.ts'), input, '-o', out, ...UNSIGNED], {
    cwd: ROOT, stdio: 'ignore', env: { ...process.env, PROTON_BEAM_FAILPOINT: 'member-append-after:3', PROTON_BEAM_MEMBER_BYTES: '4096' },
  });
  const signal = await new Promise((resolve) => killed.on('close', (_code, s) => resolve(s)));
  assert.equal(signal, 'SIGKILL');
  const stats = runScript('index', ['stats', out]);
  assert.match(stats.stderr, new RegExp(`the last writer of ${out} was stopped before it finished \\(convert .*pid ${killed.pid}.*\\): the index may be behind the day files; convert into ${out} again .* or run: npx tsx scripts/index.ts rebuild ${out}`));
  const again = runScript('convert', [input, '-o', out, ...UNSIGNED]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal((await allEvents(out)).length, 400);
  assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out));
  assert.doesNotMatch(runScript('index', ['stats', out]).stderr, /warning/);
});
