// The instance watchdog as userdata/prepare-instance.sh installs it, run through its own CLI with a
// fake clock (PB_WATCHDOG_NOW, PB_WATCHDOG_BOOT) and fake shutdown/logger on PATH; and the job's side.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { $, which } from 'zx';
import { ROOT } from '../../lib/paths.ts';
import { endWatchdog, extendWatchdog } from '../../lib/deploy/watchdog.ts';

const userdata = fs.readFileSync(path.join(ROOT, 'userdata', 'prepare-instance.sh'), 'utf8');
const script = /<<'WATCHDOG_SCRIPT'\n([^]*?\n)WATCHDOG_SCRIPT\n/.exec(userdata)![1];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pb-watchdog-'));
const bin = path.join(dir, 'proton-beam-watchdog');
const fakeBin = path.join(dir, 'bin');
const shutdownLog = path.join(dir, 'shutdown.log');
let state = '';

before(() => {
  fs.writeFileSync(bin, script, { mode: 0o755 });
  fs.mkdirSync(fakeBin);
  for (const tool of ['shutdown', 'logger']) {
    fs.writeFileSync(path.join(fakeBin, tool), `#!/bin/bash\necho "${tool} $*" >>"${shutdownLog}"\n`, { mode: 0o755 });
  }
});

const BOOT = 1_800_000_000;
async function wd(args: string[], now: number, extra: Record<string, string> = {}) {
  const env = { PATH: `${fakeBin}:${process.env.PATH}`, PB_WATCHDOG_DIR: state, PB_WATCHDOG_NOW: String(now), PB_WATCHDOG_BOOT: String(BOOT), ...extra };
  try {
    const { stdout } = await promisify(execFile)(bin, args, { env });
    return { code: 0, out: stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, out: e.stdout };
  }
}
const shutdowns = () => (fs.existsSync(shutdownLog) ? fs.readFileSync(shutdownLog, 'utf8') : '');
const fresh = () => {
  state = fs.mkdtempSync(path.join(dir, 'state-'));
  fs.rmSync(shutdownLog, { force: true });
};

test('the embedded watchdog is clean under shellcheck, and installed with a one-minute systemd timer', { skip: !(await which('shellcheck', { nothrow: true })) && 'shellcheck is not installed' }, async () => {
  const res = await $({ nothrow: true, quiet: true })`shellcheck --severity=style --shell=bash ${bin}`;
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
  assert.match(userdata, /OnUnitActiveSec=1min/);
  assert.match(userdata, /ExecStart=\/usr\/local\/sbin\/proton-beam-watchdog check/);
  assert.match(userdata, /systemctl enable --now proton-beam-watchdog\.timer/);
  // Installed before anything else can fail.
  assert.ok(userdata.indexOf('\ninstall_watchdog\n') < userdata.indexOf('\nensure_ssm_agent\n'));
});

test('no job within 30 minutes of boot: the instance shuts down (and so terminates)', async () => {
  fresh();
  assert.match((await wd(['check'], BOOT + 1799)).out, /ok: 1 s left before: no job started within 30 minutes of boot/);
  assert.equal(shutdowns(), '');
  const r = await wd(['check'], BOOT + 1860);
  assert.match(r.out, /terminate: no job started within 30 minutes of boot \(deadline passed 60 s ago\)/);
  assert.match(shutdowns(), /^logger -t proton-beam-watchdog shutting down: no job started/m);
  assert.match(shutdowns(), /^shutdown -h now proton-beam-watchdog: no job started within 30 minutes of boot/m);
});

test('the job extends the deadline to start + MaxJobHours, and overrunning it terminates', async () => {
  fresh();
  assert.match((await wd(['extend', '7200', 'the setup steps took over 2 hours'], BOOT + 600)).out, /deadline in 7200 s/);
  assert.match((await wd(['check'], BOOT + 3600)).out, /^proton-beam-watchdog: ok: 4200 s left/m, 'the boot rule no longer applies');
  const start = BOOT + 1200;
  await wd(['extend', String(48 * 3600), 'the job ran past MaxJobHours=48'], start);
  assert.match((await wd(['check'], start + 47 * 3600)).out, /ok: 3600 s left before: the job ran past MaxJobHours=48/);
  assert.equal(shutdowns(), '');
  assert.match((await wd(['check'], start + 48 * 3600)).out, /terminate: the job ran past MaxJobHours=48/);
  assert.match(shutdowns(), /^shutdown -h now/m);
});

test('a job that ended stands the watchdog down; the next job arms it again; status and dry runs never act', async () => {
  fresh();
  await wd(['extend', '3600', 'the job ran past MaxJobHours=1'], BOOT);
  await wd(['end'], BOOT + 100);
  assert.match((await wd(['check'], BOOT + 100 * 3600)).out, /ended: the job finished/);
  await wd(['extend', '60', 'next job'], BOOT + 100 * 3600);
  assert.match((await wd(['status'], BOOT + 100 * 3600 + 61)).out, /terminate: next job/);
  assert.match((await wd(['check'], BOOT + 100 * 3600 + 61, { PB_WATCHDOG_DRY_RUN: '1' })).out, /dry run: would shut down now/);
  assert.equal(shutdowns(), '');
  assert.equal((await wd(['extend', 'soon'], BOOT)).code, 2);
  assert.equal((await wd([], BOOT)).code, 2);
});

test('the job sets the deadline from MaxJobHours and ends the watchdog; without a watchdog it does nothing', async () => {
  fresh();
  const lines: string[] = [];
  const wrapper = path.join(dir, 'wrapper');
  fs.writeFileSync(wrapper, `#!/bin/bash\nexport PB_WATCHDOG_DIR='${state}' PB_WATCHDOG_BOOT=${BOOT} PATH='${fakeBin}':"$PATH"\nexec '${bin}' "$@"\n`, { mode: 0o755 });
  process.env.PB_WATCHDOG_BIN = wrapper;
  try {
    await extendWatchdog(12, (l) => lines.push(l));
    assert.match(lines.join('\n'), /job: proton-beam-watchdog: deadline in 43200 s: the job ran past MaxJobHours=12/);
    assert.equal(fs.readFileSync(path.join(state, 'reason'), 'utf8'), 'the job ran past MaxJobHours=12\n');
    const deadline = Number(fs.readFileSync(path.join(state, 'deadline'), 'utf8'));
    assert.ok(Math.abs(deadline - (Date.now() / 1000 + 43200)) < 60);
    await endWatchdog((l) => lines.push(l));
    assert.ok(fs.existsSync(path.join(state, 'ended')));
    process.env.PB_WATCHDOG_BIN = path.join(dir, 'no-such-watchdog');
    const before = lines.length;
    await extendWatchdog(1, (l) => lines.push(l));
    assert.equal(lines.length, before);
  } finally {
    delete process.env.PB_WATCHDOG_BIN;
  }
});

test('on-shutdown: the command runs (as stored, no shell) before a shutdown of the watchdog\'s own, never on status or a dry run; a failing one does not stop the shutdown', async () => {
  fresh();
  const hook = path.join(dir, 'hook');
  fs.writeFileSync(hook, `#!/bin/bash\necho "hook $*" >>"${shutdownLog}"\nexit 7\n`, { mode: 0o755 });
  assert.equal((await wd(['on-shutdown'], BOOT)).code, 2);
  assert.match((await wd(['on-shutdown', hook, 'a b', '$(id)'], BOOT)).out, /before a shutdown: /);
  assert.match((await wd(['status'], BOOT + 1860)).out, /terminate: no job started/);
  await wd(['check'], BOOT + 1860, { PB_WATCHDOG_DRY_RUN: '1' });
  assert.equal(shutdowns(), '');
  const r = await wd(['check'], BOOT + 1860);
  assert.match(r.out, /that failed \(exit 7\); shutting down anyway/);
  assert.deepEqual(shutdowns().split('\n').filter(Boolean).map((l) => l.split(' ')[0]), ['logger', 'hook', 'shutdown']);
  assert.match(shutdowns(), /^hook a b \$\(id\)$/m);
});
