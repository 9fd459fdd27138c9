// SecureNN part of bench:ops: exact ReLU, max pooling, argmax, and networks A, B and C (max-pool
// variants, random weights) at batch 1 and 128, with bytes compared to the SecureNN C++ reference.
import * as tfe from '../../lib';
import { convNet, forwardA, forwardConv, networkA, randomImages, randomImagesNHWC } from './networks';
import { nowMs } from './timing';

/** Bytes the SecureNN C++ reference sends at batch 1 (from the issue). */
export const REFERENCE_MB = { A: 2.1, B: 8.86, C: 18.94 } as const;

export interface RunStats {
  ms: number;
  bytes: number;
  rounds: number;
}

async function timeRuns(c: tfe.Cluster, once: () => Promise<void>, runs: number): Promise<RunStats> {
  const times: number[] = [];
  let bytes = 0, rounds = 0;
  for (let i = 0; i < runs; i++) {
    c.transport.resetTraffic();
    const t0 = nowMs();
    await once();
    times.push(nowMs() - t0);
    ({ bytes, rounds } = c.transport.traffic().total);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], bytes, rounds };
}

export async function secureNNOps(): Promise<Record<string, RunStats>> {
  const out: Record<string, RunStats> = {};
  const cases: [string, number[], (x: tfe.PrivateTensor) => tfe.AnyTensor][] = [
    ['relu [1,128]', [1, 128], (x) => tfe.relu(x)],
    ['relu [128,128]', [128, 128], (x) => tfe.relu(x)],
    ['maxPool2d [1,24,24,16] 2x2', [1, 24, 24, 16], (x) => tfe.maxPool2d(x, { poolSize: 2 })],
    ['argmax [1,10]', [1, 10], (x) => tfe.argmax(x, 1)],
  ];
  for (const [name, shape, f] of cases) {
    const c = new tfe.Cluster({ protocol: 'securenn' });
    const n = shape.reduce((a, b) => a * b, 1);
    const data = Float64Array.from({ length: n }, () => Math.random() * 2 - 1);
    const once = async () => {
      const x = tfe.definePrivateInput('input-provider', () => ({ data, shape }), c);
      await x.shares;
      const y = f(x);
      await (y.kind === 'private' ? y.shares : y.values);
      await Promise.all([x.dispose(), y.dispose()]);
    };
    await once();
    out[name] = await timeRuns(c, once, 10);
    await c.close();
  }
  return out;
}

export async function secureNNNetworks(quick: boolean, log: (s: string) => void): Promise<Record<'A' | 'B' | 'C', { b1: RunStats; b128?: RunStats }>> {
  const result = {} as Record<'A' | 'B' | 'C', { b1: RunStats; b128?: RunStats }>;
  for (const which of ['A', 'B', 'C'] as const) {
    const c = new tfe.Cluster({ protocol: 'securenn' });
    const net = which === 'A' ? networkA(c) : convNet(c, which, 'max');
    const predict = (batch: number) => {
      const img = which === 'A' ? randomImages(batch) : randomImagesNHWC(batch);
      return async () => {
        const x = tfe.definePrivateInput('prediction-client', () => img, c);
        const y = tfe.tidy(() => (which === 'A' ? forwardA(net as ReturnType<typeof networkA>, x) : forwardConv(net as ReturnType<typeof convNet>, x)));
        await tfe.defineOutput('prediction-client', y);
        await Promise.all([x.dispose(), y.dispose()]);
      };
    };
    await predict(1)(); // masks the weights once, as a deployed model would
    const b1 = await timeRuns(c, predict(1), which === 'A' ? 30 : 5);
    log(`securenn ${which} batch 1: ${b1.ms.toFixed(1)} ms, ${(b1.bytes / 1e6).toFixed(3)} MB`);
    result[which] = { b1 };
    if (!quick || which === 'A') {
      result[which].b128 = await timeRuns(c, predict(128), which === 'A' ? 3 : 1);
      log(`securenn ${which} batch 128: ${result[which].b128!.ms.toFixed(0)} ms`);
    }
    await c.close();
  }
  return result;
}
