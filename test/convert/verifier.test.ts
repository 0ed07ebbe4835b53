// The converter's --verifier: the same day files and the same rejections with either verifier,
// the summary and the status file name the one that ran, and auto falls back to WASM with one
// line when the system library cannot be loaded.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test from 'node:test';
import { listDayFiles } from '../../lib/day-files/names.ts';
import { makeVerifier } from '../../lib/nostr/verifier.ts';
import { LIBRARY_ENV } from '../../lib/nostr/verify-native.ts';
import { ROOT, realSampleLines, tempDir } from '../helpers/common.ts';

let nativeMissing: string | false = false;
try {
  makeVerifier('native');
} catch (err) {
  nativeMissing = `native libsecp256k1 unavailable here (${(err as Error).message}); apt-get install libsecp256k1-1 to run this`;
}

/**
 * Copies of the real events with a flipped bit in the sig, id or pubkey come first (a bad copy
 * after its verified original would count as a duplicate), then the real events, copies, garbage.
 */
function mixedInput(): string {
  const tampered: string[] = [];
  const flip = (hex: string, at: number) => hex.slice(0, at) + (hex[at] === '0' ? '1' : '0') + hex.slice(at + 1);
  const real = realSampleLines();
  for (const [i, line] of real.entries()) {
    const e = JSON.parse(line);
    if (i % 3 === 0) tampered.push(JSON.stringify({ ...e, sig: flip(e.sig, i % 128) }));
    if (i % 3 === 1) tampered.push(JSON.stringify({ ...e, pubkey: flip(e.pubkey, i % 64) })); // id no longer matches
    if (i % 3 === 2) tampered.push(JSON.stringify({ ...e, id: flip(e.id, i % 64) }));
    if (i % 7 === 0) tampered.push(JSON.stringify({ ...e, sig: 'f'.repeat(128) }));
  }
  const copies = real.filter((_, i) => i % 5 === 0);
  return [...tampered, ...real, ...copies, '{"id": "garbage"}', 'not json at all'].join('\n') + '\n';
}

function convert(input: string, out: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'convert.ts'), input, '-o', out, '--no-progress', '--no-index', ...args], { cwd: ROOT, encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

const rejections = (dir: string) => fs.readFileSync(path.join(dir, 'proton-beam.log'), 'utf8').split('\n').filter((l) => l.startsWith('line '));

test('native and wasm write byte-identical day files and the same rejections; the summary and status file say which ran', { skip: nativeMissing }, () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.jsonl');
  fs.writeFileSync(input, mixedInput());
  const outputs: Record<string, string> = {};
  for (const verifier of ['native', 'wasm']) {
    const out = path.join(dir, verifier);
    const status = path.join(dir, `${verifier}-status.json`);
    const r = convert(input, out, ['--verifier', verifier, '-j', '2', '-b', '37', '--status-file', status]);
    assert.match(r.stdout, verifier === 'native' ? /signatures\s+checked, native \(libsecp256k1\.so[.0-9]*\) verifier/ : /signatures\s+checked, wasm \(tiny-secp256k1\) verifier/);
    assert.match(r.stdout, /rejected\s+[1-9]/);
    assert.match(JSON.parse(fs.readFileSync(status, 'utf8')).verifier, new RegExp(`^${verifier} \\(`));
    outputs[verifier] = out;
  }
  const names = listDayFiles(outputs.native);
  assert.ok(names.length > 0);
  assert.deepEqual(listDayFiles(outputs.wasm), names);
  for (const name of names) assert.ok(fs.readFileSync(path.join(outputs.native, name)).equals(fs.readFileSync(path.join(outputs.wasm, name))), name);
  const rejected = rejections(outputs.native);
  assert.ok(rejected.some((l) => /bad_signature/.test(l)) && rejected.some((l) => /id_mismatch/.test(l)));
  assert.deepEqual(rejections(outputs.wasm), rejected);
});

test('auto without the system library: WASM, one line on stderr saying why and how to get native, same output', () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.jsonl');
  fs.writeFileSync(input, mixedInput());
  const env = { ...process.env, [LIBRARY_ENV]: path.join(dir, 'libsecp256k1.so.absent') };
  const r = convert(input, path.join(dir, 'auto'), [], env);
  const notes = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(notes.length, 1, r.stderr);
  assert.match(notes[0], /^signatures: WASM verifier, native unavailable: libsecp256k1 not found .*libsecp256k1\.so\.absent.*apt-get install libsecp256k1-1/);
  assert.match(r.stdout, /signatures\s+checked, wasm \(tiny-secp256k1\) verifier/);
  assert.match(fs.readFileSync(path.join(dir, 'auto', 'proton-beam.log'), 'utf8'), /INFO signatures: WASM verifier, native unavailable/);
  const wasm = convert(input, path.join(dir, 'wasm'), ['--verifier', 'wasm']);
  assert.equal(wasm.stderr, '');
  for (const name of listDayFiles(path.join(dir, 'wasm'))) {
    assert.ok(fs.readFileSync(path.join(dir, 'auto', name)).equals(fs.readFileSync(path.join(dir, 'wasm', name))), name);
  }
  // --verifier native where it cannot load: a one-line fatal error, exit 1, nothing converted
  const native = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'convert.ts'), input, '-o', path.join(dir, 'native'), '--verifier', 'native'], { cwd: ROOT, encoding: 'utf8', env });
  assert.equal(native.status, 1);
  assert.match(native.stderr, /^error: --verifier native: libsecp256k1 not found .*apt-get install libsecp256k1-1.*\n$/);
  assert.deepEqual(listDayFiles(path.join(dir, 'native')), []);
});

test('--verifier with an unknown value is a usage error; signatures off says so', () => {
  const dir = tempDir();
  const input = path.join(dir, 'in.jsonl');
  fs.writeFileSync(input, realSampleLines().slice(0, 5).join('\n') + '\n');
  const bad = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'convert.ts'), input, '--verifier', 'fast'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^error: --verifier takes auto, native, wasm, not 'fast'\n/);
  const off = convert(input, path.join(dir, 'off'), ['--validate-signatures', 'false']);
  assert.match(off.stdout, /signatures\s+not checked/);
});
