// userdata/: clean under shellcheck, and only machine preparation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { $, which } from 'zx';
import { ROOT } from '../../lib/paths.ts';

const scripts = fs.readdirSync(path.join(ROOT, 'userdata')).filter((f) => f.endsWith('.sh')).map((f) => path.join(ROOT, 'userdata', f));
const shellcheck = await which('shellcheck', { nothrow: true });

// CI must run it (apt-get install shellcheck); elsewhere a missing shellcheck skips with a reason.
test('userdata scripts are clean under shellcheck', { skip: !shellcheck && !process.env.CI && 'shellcheck is not installed (apt-get install shellcheck)' }, async () => {
  assert.ok(shellcheck, 'shellcheck is not installed (apt-get install shellcheck)');
  assert.ok(scripts.length > 0);
  const res = await $({ nothrow: true, quiet: true })`shellcheck --severity=style --shell=bash ${scripts}`;
  assert.equal(res.exitCode, 0, res.stdout + res.stderr);
});

test('userdata prepares the machine and has no job logic', () => {
  const text = fs.readFileSync(path.join(ROOT, 'userdata', 'prepare-instance.sh'), 'utf8');
  assert.match(text, /^#!\/bin\/bash\n/);
  assert.match(text, /set -Eeuo pipefail/);
  assert.match(text, /NODE_VERSION=22\.\d+\.\d+\n/);
  assert.match(text, /NODE_SHA256=[0-9a-f]{64}\n/);
  assert.match(text, /sha256sum --check --strict/);
  assert.match(text, /https:\/\/nodejs\.org\/dist\/v\$NODE_VERSION\/\$tarball/);
  assert.match(text, /amazon-ssm-agent/);
  assert.match(text, /mountpoint -q "\$DATA_MOUNT"/);
  // the system libsecp256k1 for native Schnorr verification, under its name on the release
  assert.match(text, /for package in libsecp256k1-2 libsecp256k1-1; do[^]*install -y -q --no-install-recommends "\$package"/);
  assert.match(text, /\ninstall_libsecp256k1\n/);
  // libdeflate for the day files' gzip (lib/day-files/gzip.ts), in the packages install_packages installs
  assert.match(text, /install_packages\(\) \{[^}]*--no-install-recommends \\\n[^}]*\blibdeflate0\b/);
  for (const jobWord of ['convert', 'scripts/job', 's3://', 'aws s3', 'INPUT', 'OUTPUT']) {
    assert.ok(!text.includes(jobWord), `user data mentions ${jobWord}`);
  }
});

test('the user data is idempotent: every step checks before it changes anything', () => {
  const text = fs.readFileSync(path.join(ROOT, 'userdata', 'prepare-instance.sh'), 'utf8');
  assert.match(text, /if mountpoint -q "\$DATA_MOUNT"; then[^]*already mounted/);
  assert.match(text, /if ! blkid -L "\$DATA_LABEL"/, 'never formats a labelled volume again');
  assert.match(text, /if ! grep -q "\^LABEL=\$DATA_LABEL " \/etc\/fstab/, 'one fstab line');
  assert.match(text, /already installed/);
});
