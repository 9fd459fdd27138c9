// The bench machine is shared (builds and tests may run beside it), and other work on 2 cores
// halves the numbers. This measures how much CPU time *other* processes took during the run,
// from /proc/stat minus this process and its waited-for children (openssl, the dgemm helper),
// so the output can say when the numbers are not trustworthy. Linux only; elsewhere: undefined.
import * as fs from 'node:fs';

interface Sample {
  /** All CPU time of the machine, busy or idle, in clock ticks. */
  total: number;
  /** Busy time of the machine plus time stolen by the hypervisor. */
  busy: number;
  /** utime + stime + cutime + cstime of this process. */
  self: number;
}

function sample(): Sample | undefined {
  try {
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
    const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = cpu;
    // Fields after "pid (comm) " start at field 3; utime..cstime are fields 14..17.
    const stat = fs.readFileSync('/proc/self/stat', 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    const self = rest[14 - 3] + rest[15 - 3] + rest[16 - 3] + rest[17 - 3];
    return { total: user + nice + system + idle + iowait + irq + softirq + steal, busy: user + nice + system + irq + softirq + steal, self };
  } catch {
    return undefined;
  }
}

/** Starts measuring; the returned function gives the fraction (0..1) of all cores used by others. */
export function startInterferenceMeter(): () => number | undefined {
  const start = sample();
  return () => {
    const end = sample();
    if (!start || !end || end.total <= start.total) return undefined;
    const others = end.busy - start.busy - (end.self - start.self);
    return Math.max(0, others) / (end.total - start.total);
  };
}
