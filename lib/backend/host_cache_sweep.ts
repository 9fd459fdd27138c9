// Gives the native host cache's stale buffers back. The cache keeps freed buffers for reuse
// (host_allocator.cc), up to TFE_HOST_CACHE_MB; without a sweep, a burst of large queries left a
// server holding the cap (1 GiB) for good after its tensors were gone. A buffer nobody reused for
// TFE_HOST_CACHE_IDLE_MS is freed; steady traffic reuses its buffers within milliseconds.
import type { NativeBinding } from './native_binding';

const DEFAULT_IDLE_MS = 5000;

/** TFE_HOST_CACHE_IDLE_MS, checked: 0 turns the sweep off. */
export function hostCacheIdleMs(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.TFE_HOST_CACHE_IDLE_MS;
  if (v === undefined || v === '') return DEFAULT_IDLE_MS;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n > 86_400_000)
    throw new Error(`TFE_HOST_CACHE_IDLE_MS must be a whole number of milliseconds in [0, 86400000] (0: never free cached buffers), got '${v}'`);
  return n;
}

let timer: NodeJS.Timeout | undefined;

/** Starts the sweep over the loaded modules (once per process; the timer never keeps it alive). */
export function sweepHostCaches(modules: () => Iterable<NativeBinding>): void {
  if (timer) return;
  const idleMs = hostCacheIdleMs();
  if (idleMs === 0) return;
  // Half the idle time between sweeps: a buffer is freed between idleMs and 1.5 idleMs after its last use.
  timer = setInterval(() => {
    for (const m of modules()) m.trimHostCache(idleMs);
  }, Math.max(100, idleMs / 2));
  timer.unref();
}
