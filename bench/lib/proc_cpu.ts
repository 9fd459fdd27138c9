// CPU time of a process from /proc: unlike wall time, barely moved by other load on a shared
// machine, so benchmarks report it beside their latencies.
import * as fs from 'node:fs';

const TICK = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

/** CPU seconds (user + system, all threads) a process has used so far; NaN where /proc is absent. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICK; // utime, stime (fields 14 and 15)
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU nanoseconds a process has run, from each thread's schedstat: nanosecond resolution, where
 * /proc/<pid>/stat counts 10 ms ticks (too coarse for one batch-1 query). NaN where absent.
 */
export function cpuNs(pid: number | undefined): number {
  try {
    let ns = 0;
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    return ns;
  } catch {
    return Number.NaN;
  }
}
