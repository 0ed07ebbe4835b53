import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';
import { ROOT, SHIPPED_SAMPLE, runScript, tempDir } from '../helpers/common.ts';

test('make alone lists the targets instead of converting', { skip: spawnSync('make', ['--version']).status !== 0 && 'make is not installed' }, () => {
  const r = spawnSync('make', ['--no-print-directory'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Usage: make TARGET/);
  for (const target of ['convert', 'test', 'bench', 'plan', 'deploy', 'status', 'destroy']) assert.match(r.stdout, new RegExp(`\\n  ${target} +\\S`));
});

test('output piped into head that closes early: no EPIPE stack, the exit status of a finished run', () => {
  const out = tempDir();
  const pipeline = spawnSync('bash', ['-o', 'pipefail', '-c', `node --import tsx scripts/convert.ts "$1" -o "$2" --no-progress | head -c 10; node --import tsx scripts/cat.ts "$2"/*.pb.gz | head -1`, '_', SHIPPED_SAMPLE, out], { cwd: ROOT, encoding: 'utf8' });
  assert.doesNotMatch(pipeline.stderr, /EPIPE|Error|internal error/);
  assert.equal(pipeline.status, 0, pipeline.stderr);
});

test('usage errors that used to mislead or print a stack: one line each', () => {
  const dir = tempDir();
  const cases: [string, string[], RegExp][] = [
    ['convert', [SHIPPED_SAMPLE, '-o', dir, '--s3-output', 'https://bucket/x'], /^error: https:\/\/bucket\/x: not an S3 URL; expected s3:\/\/bucket\/prefix\/\n$/],
    ['make-sample', ['--count', '0', '--out', path.join(dir, 's.jsonl')], /^error: --count takes a whole number from 10 to 10000000, not '0'\nsee: /],
    ['index', ['stats', path.join(dir, 'nope')], /^error: .*nope: no such folder; index stats takes the folder that convert wrote/],
    ['query', [dir, '--limt', '3'], /^error: unknown option --limt \(did you mean --limit\?\)\n/],
  ];
  for (const [script, args, expected] of cases) {
    const r = runScript(script, args);
    assert.notEqual(r.status, 0, `${script} ${args.join(' ')}`);
    assert.match(r.stderr, expected);
  }
});
