// softmax's sliding window (lib/api/ops_softmax.ts, Keras 3.12+'s sliding_window on attention):
// on fresh random scores, each row's weights over the keys |i - j| < window (and j <= i with a
// causal mask) against a softmax written here, the others exactly 0, under both exact protocols;
// scores that are not square refused.
import test from 'ava';

import * as tfe from '../lib';

function reference(x: number[], t: number, window: number, causal: boolean): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / t; r++) {
    const i = r % t, keep = (j: number) => Math.abs(i - j) < window && (!causal || j <= i);
    const row = x.slice(r * t, r * t + t), m = Math.max(...row.filter((_, j) => keep(j)));
    const e = row.map((v, j) => (keep(j) ? Math.exp(v - m) : 0)), s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / s));
  }
  return out;
}

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: softmax over a sliding window, with and without a causal mask, as a softmax over the band`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      const T = 6, shape = [2, 2, T, T];
      const x = Array.from({ length: 2 * 2 * T * T }, () => (Math.random() - 0.5) * 8);
      for (const [window, causal] of [[1, false], [2, false], [3, true], [T + 2, false]] as [number, boolean][]) {
        const s = tfe.definePrivateInput('prediction-client', () => ({ data: Float64Array.from(x), shape }), c);
        const out = await tfe.defineOutput('prediction-client', tfe.softmax(s, { window, causal }));
        const want = reference(x, T, window, causal);
        const err = Math.max(...want.map((v, i) => Math.abs(out.data[i] - v)));
        t.true(err < 2e-3, `window ${window}, causal ${causal}: max error ${err}`);
        t.true(want.every((v, i) => v !== 0 || out.data[i] === 0), `window ${window}: the weights outside the band are exactly 0`);
      }
      const wide = tfe.definePrivateInput('prediction-client', () => ({ data: new Float64Array(2 * 3), shape: [2, 3] }), c);
      t.throws(() => tfe.softmax(wide, { window: 2 }), { message: /softmax: a sliding window \(2\) takes a positive whole width and square scores/ });
    } finally {
      await c.close();
    }
  });
