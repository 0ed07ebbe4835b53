/**
 * CPU time of the calling thread alone (the process's figure counts every worker too), read from
 * /proc/thread-self (the thread that reads it, main or worker) on Linux: `schedstat`'s time on
 * the CPU in nanoseconds, else `stat`'s utime + stime in ticks of 10 ms (too coarse for a short
 * run). Elsewhere: the event loop's active time, the closest Node offers.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';

const TICK_SECONDS = 0.01; // USER_HZ is 100 on every Linux ABI Node runs on

function schedstatSeconds(): number | undefined {
  try {
    return Number(fs.readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e9;
  } catch {
    return undefined; // a kernel without CONFIG_SCHED_INFO
  }
}

function statSeconds(): number | undefined {
  try {
    const stat = fs.readFileSync('/proc/thread-self/stat', 'latin1');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_SECONDS; // fields 14 and 15 of stat(5)
  } catch {
    return undefined;
  }
}

const linux = process.platform === 'linux';

/** Seconds of CPU this thread has used so far; compare two readings. */
export function threadCpuSeconds(): number {
  return (linux ? schedstatSeconds() ?? statSeconds() : undefined) ?? performance.eventLoopUtilization().active / 1000;
}
