/**
 * Whether an index can be behind its day files, for readers (query, stats), who never wait for
 * the folder's lock: while a conversion runs, its newest events are not indexed yet; after a
 * conversion was killed, the index lacks what it wrote last until the next run into the folder.
 */
import { describeHolder, lockState } from '../day-files/folder-lock.ts';

export function indexBehindWarning(dir: string): string | undefined {
  const s = lockState(dir);
  if (s.state === 'held') return `warning: ${dir} is being written (${describeHolder(s.holder)}): the index may not hold its newest events yet`;
  if (s.state === 'stale') {
    return `warning: the last writer of ${dir} was stopped before it finished (${describeHolder(s.holder)}): the index may be behind the day files; convert into ${dir} again (it repairs and catches up) or run: npx tsx scripts/index.ts rebuild ${dir}`;
  }
  return undefined;
}
