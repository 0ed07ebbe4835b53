/**
 * Ctrl-C and SIGTERM as they really arrive: sent to the whole process group of the documented
 * command (`npx tsx scripts/convert.ts`, `make convert`), as a terminal or a service manager
 * does, so that npm, tsx and the converter all get it, and tsx relays it once more.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { allEvents, ROOT, SHIPPED_SAMPLE, convertOk } from '../helpers/common.ts';
import { indexRows, storedRows, tempDir } from '../helpers/index.ts';

const FAST = '--no-progress --validate-signatures false';

interface Exit { code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }

function startGroup(cmd: string[]): { child: ChildProcess; exited: Promise<Exit> } {
  const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.resume();
  const started = Date.now();
  const exited = new Promise<Exit>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr, ms: Date.now() - started })));
  return { child, exited };
}

const groupAlive = (pid: number) => {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until(what: string, ok: () => boolean, ms = 90_000): Promise<void> {
  for (const start = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
  }
}

const linesDone = (status: string) => {
  try {
    return JSON.parse(fs.readFileSync(status, 'utf8')).lines as number;
  } catch {
    return 0;
  }
};

const commands: [string, (out: string, status: string) => string[]][] = [
  ['npx tsx scripts/convert.ts', (out, status) => ['npx', 'tsx', 'scripts/convert.ts', '-', '-o', out, '--status-file', status, ...FAST.split(' ')]],
  ['make convert', (out, status) => ['make', '-s', 'convert', 'INPUT=-', `OUTPUT_DIR=${out}`, `ARGS=${FAST} --status-file ${status}`]],
];

for (const [name, command] of commands) {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    test(`${signal} to the process group of \`${name}\`: the files being written are finished, the index is not behind, exit ${code} only once all is on disk`, async () => {
      const dir = tempDir();
      const out = path.join(dir, 'out');
      const status = path.join(dir, 'status.json');
      const lines = fs.readFileSync(SHIPPED_SAMPLE, 'utf8').split('\n');
      const { child, exited } = startGroup(command(out, status));
      child.stdin!.write(lines.slice(0, 300).join('\n') + '\n'); // standard input stays open: the run goes on
      await until('300 lines converted', () => linesDone(status) >= 300);
      process.kill(-child.pid!, signal);
      const r = await exited;
      // npx exits with the code; make dies by the signal itself (a shell shows 128 + its number).
      assert.ok(r.code === code || r.signal === signal, `exit ${r.code} ${r.signal}: ${r.stderr}`);
      assert.equal(groupAlive(child.pid!), false, 'nothing of the command runs on after it returned');
      assert.match(r.stderr, new RegExp(`${signal}: finishing the files being written`));
      assert.match(r.stderr, /interrupted after line 300\b/);
      assert.doesNotMatch(r.stderr, /quitting at once/, 'the relayed copy of the signal counted as the first one');
      const stored = await allEvents(out);
      assert.ok(stored.length > 250, `${stored.length} events written`);
      assert.deepEqual(indexRows(path.join(out, 'index.db')), await storedRows(out), 'the index holds what the files hold');
      assert.deepEqual(fs.readdirSync(out).filter((n) => n.startsWith('.')), [], 'the folder lock is released');
      convertOk([SHIPPED_SAMPLE, '-o', out]);
      const all = await allEvents(out);
      assert.equal(all.length, 600);
      assert.equal(new Set(all.map((e) => e.id)).size, 600);
    });
  }
}

test('through npx tsx, a signal repeated within the window counts once; a deliberate second Ctrl-C a second later quits at once', async () => {
  const { child, exited } = startGroup(['npx', 'tsx', 'test/fixtures/interrupt-probe.ts']);
  let stdout = '';
  child.stdout!.on('data', (d) => (stdout += d));
  await until('the probe to start', () => stdout.includes('ready'));
  process.kill(-child.pid!, 'SIGINT');
  await new Promise((r) => setTimeout(r, 100));
  process.kill(-child.pid!, 'SIGINT'); // within the window: the same keypress
  await new Promise((r) => setTimeout(r, 1200));
  assert.ok(groupAlive(child.pid!), 'still finishing after a repeated signal');
  assert.match(stdout, /finishing/);
  const sent = Date.now();
  process.kill(-child.pid!, 'SIGINT'); // a deliberate second Ctrl-C
  const r = await exited;
  assert.equal(r.code, 130, r.stderr);
  assert.ok(Date.now() - sent < 1500, `quit at once (${Date.now() - sent} ms)`);
  assert.doesNotMatch(stdout, /finished/);
  assert.match(r.stderr, /SIGINT again: quitting at once/);
});
