import assert from 'node:assert/strict';
import test from 'node:test';
import { IdSet } from '../../lib/convert/id-set.ts';
import { storedIdHints } from '../../lib/convert/duplicates.ts';

const A = 'a'.repeat(64);
const B = '0123456789abcdef'.repeat(4);
const C = 'c'.repeat(64);

function setOf(...hex: string[]): IdSet {
  const set = new IdSet();
  for (const h of hex) set.add(Buffer.from(h, 'hex'));
  return set;
}

test('finds the lines whose "id" key holds a stored id, wherever the key stands and however it is spaced', () => {
  const lines = [
    `{"id":"${A}","kind":1}`, // 0: stored, first key
    `{"kind":1,"tags":[["id","x"]],"content":"say \\"id\\": \\"${A}\\"","id" : "${B}"}`, // 1: a tag value "id" and an escaped "id" come first
    `{"id":"${C}"}`, // 2: not stored
    '', // 3: blank
    `{"content":"no id here"}`, // 4
    `{"id":"${'A'.repeat(63)}g"}`, // 5: not hex
    `{"id": "${A.slice(0, 40)}"}`, // 6: too short
    `{\t"id"\t:\t"${B}"}\r`, // 7: tabs and CRLF
    `{"id":"${A}"}`, // 8: last line without a newline
  ];
  const hints = storedIdHints(Buffer.from(lines.join('\n')), setOf(A, B));
  assert.deepEqual(hints, new Map([[0, A], [1, B], [7, B], [8, A]]));
});

test('nothing to find: an empty set, or no stored id in the batch', () => {
  const batch = Buffer.from(`{"id":"${A}"}\n{"id":"${B}"}\n`);
  assert.equal(storedIdHints(batch, new IdSet()), undefined);
  assert.equal(storedIdHints(batch, setOf(C)), undefined);
});
