import assert from 'node:assert/strict';
import test from 'node:test';
import { ProgressBar } from '../../lib/cli/progress.ts';

/** A terminal of `columns` that keeps what is drawn. */
function terminal(columns: number) {
  const writes: string[] = [];
  return { writes, out: { columns, write: (text: string) => { writes.push(text); return true; } } as unknown as NodeJS.WriteStream };
}

const lastLine = (writes: string[]) => writes.filter((w) => w.startsWith('\r')).at(-1)!.replace('\r\x1b[2K', '');

test('progress: phase, time, bar and ETA while reading; later phases by name; never wider than the terminal', () => {
  for (const columns of [120, 50, 30]) {
    const { writes, out } = terminal(columns);
    const snapshot = { bytesRead: 512 * 1024, totalBytes: 1024 * 1024, events: 1234 };
    const bar = new ProgressBar(() => snapshot, 'converting', out);
    bar.phase = 'converting';
    const reading = lastLine(writes);
    assert.match(reading, /^converting 0 s/);
    if (columns >= 100) assert.match(reading, /\[#{12}\.{12}\] 50\.0% 512 KiB\/1\.0 MiB 1,234 events/);
    bar.phase = 'finishing day files';
    assert.match(lastLine(writes), /^finishing day files 0 s/);
    bar.stop();
    for (const w of writes.filter((x) => x.startsWith('\r'))) assert.ok(w.replace('\r\x1b[2K', '').length < columns, `${columns}: ${w}`);
    assert.equal(writes.at(-1), '\n');
  }
});
