// Gives the native host cache's stale buffers back. The cache keeps freed buffers for reuse
// (host_allocator.cc), up to TFE_HOST_CACHE_MB; without a sweep, a burst of large queries left a
// server holding the cap (1 GiB) for good after its tensors were gone. A buffer nobody reused for
// TFE_HOST_CACHE_IDLE_MS is freed; steady traffic reuses its buffers within milliseconds.
import type { NativeBinding } from './native_binding';

const DEFAULT_IDLE_MS = 5000;
const MIN_IDLE_MS = 1000;

/** TFE_HOST_CACHE_IDLE_MS, checked: 0 turns the sweep off. */
export function hostCacheIdleMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.TFE_HOST_CACHE_IDLE_MS;
  if (v === undefined || v === '') return DEFAULT_IDLE_MS;
  const n = Number(v);
  // Below a second, the sweep would empty the cache between a query's steps and trim malloc's heaps
  // several times a second.
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || (n !== 0 && n < MIN_IDLE_MS) || n > 86_400_000)
    throw new Error(`TFE_HOST_CACHE_IDLE_MS must be 0 (never free cached buffers) or a whole number of milliseconds in [${MIN_IDLE_MS}, 86400000], got '${v}'`);
  return n;
}

let timer: NodeJS.Timeout | undefined;

/**
 * One sweep over the modules; never rejects. A module without the call (a stale build of the CUDA
 * module) or whose trim fails is skipped: the sweep must never take a server down.
 */
export async function sweepOnce(modules: Iterable<Partial<NativeBinding>>, idleMs: number): Promise<number> {
  let freed = 0;
  for (const m of modules) {
    if (typeof m.trimHostCache !== 'function') continue;
    try {
      freed += await m.trimHostCache(idleMs);
    } catch {
      // the next sweep tries again
    }
  }
  return freed;
}

/** Starts the sweep over the loaded modules (once per process; the timer never keeps it alive). */
export function sweepHostCaches(modules: () => Iterable<NativeBinding>): void {
  if (timer) return;
  const idleMs = hostCacheIdleMs();
  if (idleMs === 0) return;
  let sweeping = false;
  // Half the idle time between sweeps: a buffer is freed between idleMs and 1.5 idleMs after its last use.
  timer = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void sweepOnce(modules(), idleMs).finally(() => (sweeping = false));
  }, idleMs / 2);
  timer.unref();
}
