// The one rule both prediction clients (this browser client and lib/serve/client.ts) keep: a
// request that some server never answers fails after its timeout, naming the silent servers.
// No Node or browser built-ins: both builds use it.

/** The longest delay a timer takes: a longer one (Infinity, 30 days) fires at once, in Node and in browsers. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Refuses a client's timeout option that no timer can keep: not a positive number, or over
 * MAX_TIMER_MS (about 24.8 days). Such a value made every request fail at once, as timed out.
 */
export function checkTimeoutOption(where: string, name: string, v: number | undefined): void {
  if (v === undefined) return;
  if (!(typeof v === 'number' && v > 0 && v <= MAX_TIMER_MS))
    throw new Error(`${where}: ${name} must be a positive number of milliseconds up to ${MAX_TIMER_MS} (about 24.8 days), got ${String(v)}`);
}

/** A promise that rejects after `ms` naming the servers not in `answered`; `cancel` stops it. */
export function answerDeadline(ms: number, what: string, servers: readonly string[], answered: ReadonlySet<string>): { expired: Promise<never>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const silent = servers.filter((s) => !answered.has(s));
      reject(new Error(`no answer from ${silent.join(', ') || 'the servers'} within ${ms} ms (${what}); the request was abandoned`));
    }, ms);
  });
  expired.catch(() => undefined); // raced by the caller; never unhandled
  return { expired, cancel: () => clearTimeout(timer) };
}
