/** --checkpoint-every: a duration (5m, 30s, 1h, 500ms), a size of input (4GiB, 512MB), or off. */
import { UsageError } from '../cli/errors.ts';

export interface CheckpointEvery { ms?: number; bytes?: number }

export const DEFAULT_CHECKPOINT_EVERY = '5m';

const DURATION: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 };
const SIZE: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/** The interval, or undefined for `off`; a UsageError naming the flag for anything else. */
export function parseCheckpointEvery(text: string, flag = '--checkpoint-every'): CheckpointEvery | undefined {
  const t = text.trim().toLowerCase();
  if (t === 'off' || t === 'never' || t === '0') return undefined;
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]+)$/.exec(t);
  const n = m ? Number(m[1]) : NaN;
  if (m && n > 0) {
    if (DURATION[m[2]] !== undefined) return { ms: Math.round(n * DURATION[m[2]]) };
    if (SIZE[m[2]] !== undefined) return { bytes: Math.round(n * SIZE[m[2]]) };
  }
  throw new UsageError(`${flag} takes a duration (30s, 5m, 1h), a size of input (512MiB, 4GiB) or off, not '${text}'`);
}

/** When a checkpoint is due: `every` elapsed since the last one (in time or in input bytes). */
export class CheckpointClock {
  private lastAt = Date.now();
  private lastOffset: number;

  constructor(private every: CheckpointEvery, offset: number) {
    this.lastOffset = offset;
  }

  due(offset: number): boolean {
    return (this.every.ms !== undefined && Date.now() - this.lastAt >= this.every.ms)
      || (this.every.bytes !== undefined && offset - this.lastOffset >= this.every.bytes);
  }

  reset(offset: number): void {
    this.lastAt = Date.now();
    this.lastOffset = offset;
  }
}
