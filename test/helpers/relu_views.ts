// Every tensor message of one private ReLU under FSS, recorded: the view tests of both gate forms
// (test/fss_view.test.ts, test/fss_compact_view.test.ts) compare these for two secrets.
import * as tfe from '../../lib';
import { newCluster } from './suites/harness';
import { recordTensors, type Seen } from './view_stats';

export async function reluViews(x: Float64Array): Promise<{ seen: Seen[]; out: Float64Array }> {
  const c = newCluster('fss');
  try {
    const seen = recordTensors(c);
    const xs = tfe.definePrivateInput('input-provider', () => ({ data: x, shape: [x.length] }), c);
    const out = (await tfe.defineOutput('output-receiver', tfe.relu(xs))).data;
    return { seen, out };
  } finally {
    await c.close();
  }
}

/** The two secrets: a constant, and values of both signs spread over +-10^6. */
export const constant = new Float64Array(4096).fill(-1.25);
export const spread = Float64Array.from({ length: 4096 }, () => (Math.random() - 0.5) * 2e6);

/** relu in 16-bit fixed point, computed in plaintext. */
export const exactRelu = (x: Float64Array) => [...x].map((v) => (Math.max(v, 0) === 0 ? 0 : Math.round(v * 2 ** 16) / 2 ** 16));
