// The one rule both prediction clients (this browser client and lib/serve/client.ts) keep: a
// request that some server never answers fails after its timeout, naming the silent servers.
// No Node or browser built-ins: both builds use it.

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
