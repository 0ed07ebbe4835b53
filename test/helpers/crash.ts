// Crash tests: run a script with a failpoint armed (lib/failpoints.ts), judge how it ended, and
// compare folders with an uninterrupted run's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, readDayDir } from './common.ts';

export interface Run { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; hung?: boolean }

/**
 * Runs scripts/SCRIPT.ts under node + tsx with `env` added and PROTON_BEAM_FAILPOINT set to
 * `failpoint` (or unset); past `timeoutMs` (when given) the child is killed (SIGKILL) and `hung` set.
 */
export function runScriptWithFailpoint(script: string, args: string[], failpoint: string | undefined, env: Record<string, string> = {}, timeoutMs?: number): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete childEnv.PROTON_BEAM_FAILPOINT;
  if (failpoint) childEnv.PROTON_BEAM_FAILPOINT = failpoint;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', `${script}.ts`), ...args], { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let hung = false;
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => { hung = true; child.kill('SIGKILL'); }, timeoutMs);
  return new Promise((resolve) => child.on('close', (status, signal) => {
    clearTimeout(timer);
    resolve({ status, signal, stdout, stderr, ...(hung ? { hung } : {}) });
  }));
}

export const ok = (r: Run, what: string) => assert.equal(r.status, 0, `${what}: ${r.stderr}`);
export const killed = (r: Run, what: string) => assert.equal(r.signal, 'SIGKILL', `${what} should have died at its failpoint: exit ${r.status} ${r.stderr}`);

/** Ids per day file, in file order. */
export async function idsByFile(dir: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const [name, events] of await readDayDir(dir)) out[name] = events.map((e) => e.id);
  return out;
}

export const listing = (dir: string) => fs.readdirSync(dir).sort();

/** Runs `fn` for each item, two at a time (the machine has two cores). */
export async function twoAtATime<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all([0, 1].map(async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}
