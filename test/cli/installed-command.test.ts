import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { ROOT, SHIPPED_SAMPLE, tempDir } from '../helpers/common.ts';

const COMMAND = path.join(ROOT, 'scripts', 'proton-beam.mjs');
const CACHE = path.join(ROOT, 'node_modules', '.cache', 'proton-beam');
const run = (...args: string[]) => spawnSync(process.execPath, [COMMAND, ...args], { cwd: ROOT, encoding: 'utf8' });

test('proton-beam runs each script as a subcommand with its flags, without a TypeScript loader', () => {
  const dir = tempDir();
  const convert = run('convert', SHIPPED_SAMPLE, '-o', dir, '--no-progress', '-j', '2');
  assert.equal(convert.status, 0, convert.stderr);
  assert.match(convert.stdout, /stored +600/);
  const stats = run('index', 'stats', dir);
  assert.equal(stats.status, 0, stats.stderr);
  assert.match(stats.stdout, /600/);
  const id = JSON.parse(fs.readFileSync(SHIPPED_SAMPLE, 'utf8').split('\n')[0]).id;
  const query = run('query', dir, '--id', id);
  assert.equal(query.status, 0, query.stderr);
  assert.equal(JSON.parse(query.stdout).id, id);
  assert.doesNotMatch(fs.readFileSync(path.join(CACHE, 'cli-query.mjs'), 'utf8'), /from "protobufjs"/, 'protobufjs is inlined');
  assert.equal(run('query', '--help').status, 0);
  assert.match(run('--version').stdout, /^proton-beam-aws \d+\.\d+\.\d+\n$/);
});

test('proton-beam: an unknown command or flag is one line and where the help is, exit 2', () => {
  const unknown = run('convret');
  assert.equal(unknown.status, 2);
  assert.equal(unknown.stderr, "error: unknown command 'convret'\nsee: proton-beam --help\n");
  const bare = run();
  assert.equal(bare.status, 2);
  assert.match(bare.stdout, /Commands:\n {2}convert/);
  const badFlag = run('cat', '--bogus');
  assert.equal(badFlag.status, 2);
  assert.equal(badFlag.stderr, 'error: unknown option --bogus\nsee: proton-beam cat --help\n');
  assert.match(run('query', '--help').stdout, /^Usage: proton-beam query \[PB_DIR\]/);
});

test('proton-beam rebuilds a bundle when one of its source files changed, and only then', () => {
  assert.equal(run('cat', '--version').status, 0);
  const bundle = path.join(CACHE, 'cli-cat.mjs');
  const built = fs.statSync(bundle).mtimeMs;
  assert.equal(run('cat', '--version').status, 0);
  assert.equal(fs.statSync(bundle).mtimeMs, built, 'unchanged sources: the same bundle');
  const source = path.join(ROOT, 'lib', 'cli', 'write-lines.ts');
  const { atime, mtime } = fs.statSync(source);
  try {
    fs.utimesSync(source, atime, new Date(mtime.getTime() + 2000));
    assert.equal(run('cat', '--version').status, 0);
    assert.notEqual(fs.statSync(bundle).mtimeMs, built, 'a changed source: built again');
  } finally {
    fs.utimesSync(source, atime, mtime);
  }
});
