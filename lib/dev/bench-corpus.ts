/** The benchmarks' signed corpus: generated once from a seed, then reused from a cache folder. */
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { seededRandom, syntheticEvents } from './synthetic.ts';

export async function ensureSignedCorpus(dir: string, count: number, seed: number): Promise<string> {
  const file = path.join(dir, `corpus-${seed}-${count}.jsonl`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  console.log(`generating ${count.toLocaleString('en-US')} signed events (seed ${seed}); cached for later runs...`);
  const tmp = `${file}.tmp`;
  const out = fs.createWriteStream(tmp);
  for (const e of syntheticEvents({ seed, count, days: 60, signers: 2000 })) {
    if (!out.write(JSON.stringify(e) + '\n')) await once(out, 'drain');
  }
  await new Promise<void>((resolve) => out.end(() => resolve()));
  fs.renameSync(tmp, file);
  return file;
}

/**
 * The corpus as two relays would dump it: every line, then again `share` of them (a seeded
 * pick, in their original order), so that `share / (1 + share)` of the lines are duplicates.
 */
export function ensureMergedCorpus(corpus: string, share: number, seed: number): string {
  const file = corpus.replace(/\.jsonl$/, `-merged-${Math.round(share * 100)}.jsonl`);
  if (fs.existsSync(file)) return file;
  const text = fs.readFileSync(corpus, 'utf8');
  const rand = seededRandom(seed);
  const again = text.split('\n').filter((l) => l !== '' && rand() < share);
  fs.writeFileSync(`${file}.tmp`, text + again.join('\n') + '\n');
  fs.renameSync(`${file}.tmp`, file);
  return file;
}

/**
 * The same events as ensureSignedCorpus (same seed, signers and kinds) but with created_at spread
 * over `days` days and the lines shuffled, as merged relay archives come: each batch of lines
 * then touches hundreds of days. Signed anew (the ids cover created_at); cached like the corpus.
 */
export async function ensureUnsortedCorpus(dir: string, count: number, seed: number, days = 900): Promise<string> {
  const file = path.join(dir, `corpus-${seed}-${count}-unsorted-${days}d.jsonl`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  console.log(`generating ${count.toLocaleString('en-US')} signed events over ${days} days, shuffled (seed ${seed}); cached for later runs...`);
  const lines: string[] = [];
  for (const e of syntheticEvents({ seed, count, days, signers: 2000 })) lines.push(JSON.stringify(e));
  const rand = seededRandom(seed + 1);
  for (let i = lines.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [lines[i], lines[j]] = [lines[j], lines[i]];
  }
  fs.writeFileSync(`${file}.tmp`, lines.join('\n') + '\n');
  fs.renameSync(`${file}.tmp`, file);
  return file;
}
