import assert from 'node:assert/strict';
import path from 'node:path';
import test from 'node:test';
import { MemberCache } from '../../lib/day-files/member-cache.ts';
import { readMessagesAt } from '../../lib/day-files/members.ts';
import { convertInto, randomSample, storedRows, tempDir, writeJsonl } from '../helpers/index.ts';

test('the member cache hands out the same messages as a fresh read, under any budget, in any order', async () => {
  const dir = tempDir();
  const out = path.join(dir, 'out');
  await convertInto(out, writeJsonl(path.join(dir, 'in.jsonl'), randomSample(600, 3, 2)), { index: false });
  const rows = await storedRows(out);
  const members = new Map<string, { file: string; member: number; offsets: number[] }>();
  for (const r of rows) {
    const key = `${r.file_path}\0${r.member_offset}`;
    if (!members.has(key)) members.set(key, { file: path.join(out, r.file_path), member: r.member_offset!, offsets: [] });
    members.get(key)!.offsets.push(r.offset_in_member!);
  }
  assert.ok(members.size > 20, 'many small members');
  // Budgets: none (every lookup inflates again), two members' worth (evictions), all of them.
  for (const budget of [0, 16384, 64 << 20]) {
    const cache = new MemberCache(budget);
    // Each member asked for twice, first for its earlier half (a partial read), then for all of it.
    for (const half of [true, false]) {
      for (const { file, member, offsets } of members.values()) {
        const wanted = half ? offsets.slice(0, Math.ceil(offsets.length / 2)) : [...offsets].reverse();
        const got = await cache.messagesAt(file, member, half ? wanted : [...wanted, 999_999_999]); // an offset where no message starts
        assert.deepEqual(got, await readMessagesAt(file, member, wanted), `budget ${budget} ${file} ${member}`);
      }
    }
  }
});
