// The environment variables the native modules read, checked before one loads: the C++ side
// read a garbage TFE_HOST_CACHE_MB as 0 (no cache) and a garbage TFE_NUM_THREADS as unset, and
// nothing said so.
import { hostCacheIdleMs } from './host_cache_sweep';

/** A whole number from the environment in [min, max], or `fallback` when unset; anything else throws, naming it. */
export function wholeNumberEnv(name: string, fallback: number, min: number, max: number, env: NodeJS.ProcessEnv = process.env): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!/^\s*\d+\s*$/.test(v) || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`${name} must be a whole number in [${min}, ${max}], got '${v.slice(0, 40)}'`);
  return n;
}

/** Throws on a bad setting of TFE_HOST_CACHE_MB, TFE_HOST_CACHE_IDLE_MS or TFE_NUM_THREADS. */
export function checkNativeEnv(env: NodeJS.ProcessEnv = process.env): void {
  wholeNumberEnv('TFE_HOST_CACHE_MB', 1024, 0, 1 << 20, env);
  wholeNumberEnv('TFE_NUM_THREADS', 1, 1, 1024, env);
  hostCacheIdleMs(env);
}
