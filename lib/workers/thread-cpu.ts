/**
 * CPU time of the calling thread alone (the process's figure counts every worker too).
 * Linux: utime + stime of /proc/self/task/TID/stat, in clock ticks of 10 ms; the main thread's
 * TID is the process id. Elsewhere: the event loop's active time, the closest Node offers.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const TICK_SECONDS = 0.01; // USER_HZ is 100 on every Linux ABI Node runs on

function procSeconds(): number | undefined {
  if (!isMainThread || process.platform !== 'linux') return undefined;
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_SECONDS; // fields 14 and 15 of stat(5)
  } catch {
    return undefined;
  }
}

/** Seconds of CPU this (main) thread has used so far; compare two readings. */
export function mainThreadCpuSeconds(): number {
  return procSeconds() ?? performance.eventLoopUtilization().active / 1000;
}
