#!/usr/bin/env -S npx tsx
// Writes sample/events.jsonl: synthetic signed events from a fixed seed, with a few duplicates
// (re-serialized in another key order) and a few broken lines, to show what convert reports.
import fs from 'node:fs';
import { runScript } from '../lib/cli/run.ts';
import { seededRandom, syntheticEvents } from '../lib/dev/synthetic.ts';

await runScript({
  command: 'npx tsx scripts/make-sample.ts',
  synopsis: '[--count N] [--out FILE]',
  about: 'Regenerates the shipped sample: synthetic signed events from a fixed seed, a few re-spelled\nduplicates and a few broken lines.',
  flags: {
    count: { kind: 'int', default: 600, min: 10, max: 10_000_000, help: 'events' },
    out: { kind: 'string', value: 'FILE', default: 'sample/events.jsonl', help: 'where to write them' },
  },
}, async ({ flags: { count, out } }) => {
  const rand = seededRandom(7);
  const lines: string[] = [];
  for (const e of syntheticEvents({ seed: 7, count, days: 10, signers: 50 })) {
    lines.push(JSON.stringify(e));
    if (rand() < 0.05) {
      const { sig, content, tags, kind, created_at, pubkey, id } = e; // same event, other key order
      lines.push(JSON.stringify({ sig, content, tags, kind, created_at, pubkey, id }, null, 1).replace(/\n/g, ''));
    }
  }
  const broken = [
    '',
    '{"id": "truncated',
    '["not", "an", "object"]',
    JSON.stringify({ ...JSON.parse(lines[3]), content: 'edited after signing' }),
    JSON.stringify({ ...JSON.parse(lines[5]), kind: 70000 }),
  ];
  for (const [i, line] of broken.entries()) lines.splice(50 + i * 97, 0, line);
  fs.mkdirSync(out.replace(/\/[^/]*$/, ''), { recursive: true });
  fs.writeFileSync(out, lines.join('\n') + '\n');
  process.stdout.write(`${out}: ${lines.length} lines\n`);
});
