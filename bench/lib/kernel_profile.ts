// Where the time goes: wraps the native backend's entry points and sums the wall time spent in
// kernels and in wire copies (toBytes/fromBytes), per call type. Used on a separate pass so the
// headline timings carry no instrumentation.
import { getBackend } from '../../lib/backend/backends';
import type { NativeBinding } from '../../lib/backend/native_binding';

export interface Profile {
  kernelMs: number;
  kernelCalls: number;
  copyMs: number;
  copyCalls: number;
  top: { name: string; calls: number; ms: number }[];
}

export async function profileNative(runs: number, once: () => Promise<void>): Promise<Profile> {
  const native = getBackend().native as unknown as Record<string, (...a: unknown[]) => unknown>;
  const stats = new Map<string, { n: number; ms: number }>();
  const originals: [string, (...a: unknown[]) => unknown][] = [];
  for (const fn of ['run', 'runSync', 'fromBytes', 'toBytes'] as (keyof NativeBinding)[]) {
    const orig = native[fn];
    originals.push([fn, orig]);
    native[fn] = (...args: unknown[]) => {
      const t0 = process.hrtime.bigint();
      const r = orig.apply(native, args);
      const key = typeof args[0] === 'string' ? `${args[0]}` : fn;
      const done = () => {
        const s = stats.get(key) ?? { n: 0, ms: 0 };
        s.n++;
        s.ms += Number(process.hrtime.bigint() - t0) / 1e6;
        stats.set(key, s);
      };
      if (r instanceof Promise) r.then(done, done);
      else done();
      return r;
    };
  }
  try {
    for (let i = 0; i < runs; i++) await once();
  } finally {
    for (const [fn, orig] of originals) native[fn] = orig;
  }
  let kernelMs = 0, kernelCalls = 0, copyMs = 0, copyCalls = 0;
  for (const [k, s] of stats) {
    if (k === 'fromBytes' || k === 'toBytes') {
      copyMs += s.ms;
      copyCalls += s.n;
    } else {
      kernelMs += s.ms;
      kernelCalls += s.n;
    }
  }
  const top = [...stats].map(([name, s]) => ({ name, calls: s.n / runs, ms: s.ms / runs })).sort((a, b) => b.ms - a.ms).slice(0, 6);
  return { kernelMs: kernelMs / runs, kernelCalls: kernelCalls / runs, copyMs: copyMs / runs, copyCalls: copyCalls / runs, top };
}
