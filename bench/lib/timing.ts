// Timing for async kernels. Each sample is one awaited call, so it includes the hop to the
// native thread pool and back: that round trip is what a caller of the library pays, and it is
// what dominates the small shapes (1x784x128). Warm-up runs come first so one-time costs (pool
// start-up, first-touch page faults, lazy kernel selection) stay out of the numbers.

export interface Timing {
  /** Fastest sample in milliseconds: the least noisy estimate on a shared 2-core machine. */
  bestMs: number;
  /** Median sample in milliseconds, shown next to best so variance is visible. */
  medianMs: number;
  runs: number;
}

export interface TimingOptions {
  warmup?: number;
  /** Always take at least this many samples... */
  minRuns?: number;
  /** ...and keep sampling until this much time has been spent (bounded by maxRuns). */
  minTotalMs?: number;
  maxRuns?: number;
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/**
 * Times `fn` (one kernel call per invocation). `fn` owns its result: it must dispose whatever it
 * creates, and that disposal is inside the sample (it is cheap and the caller would pay it too).
 */
export async function timeAsync(fn: () => Promise<void>, opts: TimingOptions = {}): Promise<Timing> {
  const { warmup = 2, minRuns = 5, minTotalMs = 300, maxRuns = 200 } = opts;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  const start = nowMs();
  while (samples.length < maxRuns && (samples.length < minRuns || nowMs() - start < minTotalMs)) {
    const t0 = nowMs();
    await fn();
    samples.push(nowMs() - t0);
  }
  samples.sort((a, b) => a - b);
  return { bestMs: samples[0], medianMs: samples[Math.floor(samples.length / 2)], runs: samples.length };
}

/** Multiply-adds per second in units of 1e9. */
export function gmacs(macs: number, ms: number): number {
  return macs / (ms / 1e3) / 1e9;
}
