// The power-of-four scale from two estimates (powerOfFourScaleWide, LayerNormalization's scale):
// one batched DReLU and one Beaver product selecting between two local sums (of s and lambda s^2,
// as LayerNormalization asks for). What each server receives: DReLU's messages (the input masked,
// as in relu; server2 under SecureNN only masked or permuted values) and the selection's openings
// of the bit and the difference, each masked by a dealt Beaver share unknown to its receiver. So
// each server's whole view must have the same statistics for two very different secrets, under
// every gate form; each form's control (FSS's input mask, SecureNN's Beaver openings, off) flags
// the opening. The scale itself is checked against plaintext. Serial: the switches are process-wide.
import test from 'ava';

import * as tfe from '../lib';
import { powerOfFourScaleWide } from '../lib/api/comparison_ops';
import { controlFlag, GATE_FORMS, withoutInputMask } from './helpers/relu_views';
import { newCluster, type Protocol } from './helpers/suites/harness';
import { compareViews, recordTensors, sameViewStatistics, type Seen } from './helpers/view_stats';

const N = 2048, SHIFT = 7, K_MIN = -7, SPLIT = 1, K_MAX = 15;

/** e = clamp(floor(log4 v), K_MIN, K_MAX) and 2^-e, in plaintext. */
const scaleOf = (v: number) => 2 ** -Math.min(K_MAX, Math.max(K_MIN, Math.floor(Math.log(v) / Math.log(4))));

/** Two secrets: every v the same small value, and v spread over the whole range (log-uniform). */
const constant = new Float64Array(N).fill(0.3);
const spread = Float64Array.from({ length: N }, () => 4 ** (K_MIN + 0.05 + Math.random() * (K_MAX - K_MIN + 0.9)));

/** lambda s^2, the op's second output (LayerNormalization's epsilon term), here at lambda = 3/4. */
const LAMBDA = 0.75;

/**
 * Every tensor message of the op on v (fine = v, coarse = v 4^-SHIFT), and the opened scale s and
 * lambda s^2.
 */
async function views(protocol: Protocol, opts: tfe.ClusterOptions, v: Float64Array): Promise<{ seen: Seen[]; s: Float64Array; squared: Float64Array }> {
  const c = newCluster(protocol, opts);
  try {
    const seen = recordTensors(c);
    const fine = tfe.definePrivateInput('input-provider', () => ({ data: v, shape: [N] }), c);
    const coarse = tfe.definePrivateInput('input-provider', () => ({ data: v.map((x) => x * 4 ** -SHIFT), shape: [N] }), c);
    const { s, squared } = powerOfFourScaleWide({ value: fine, scale: 1 }, { value: coarse, scale: 4 ** -SHIFT }, K_MIN, SPLIT, K_MAX, LAMBDA);
    await Promise.all([s.shares, squared!.shares]);
    const recorded = [...seen]; // the op's messages, before the scale is opened
    return { seen: recorded, s: (await tfe.defineOutput('output-receiver', s)).data, squared: (await tfe.defineOutput('output-receiver', squared!)).data };
  } finally {
    await c.close();
  }
}

for (const [name, protocol, opts, parties] of GATE_FORMS)
  test.serial(`${name}: the scale from two estimates is exact, and every server's view has the same statistics for two secrets`, async (t) => {
    const [a, b] = [await views(protocol, opts, constant), await views(protocol, opts, spread)];
    t.deepEqual([...a.s], [...constant].map(scaleOf), 'constant: 2^-e exactly');
    // lambda s^2 from the same bits, to the nearest unit: for every element, whatever s came out.
    for (const r of [a, b]) t.deepEqual([...r.squared], [...r.s].map((s) => Math.round(LAMBDA * s * s * 2 ** 16) / 2 ** 16), 'lambda s^2 for the s chosen');
    // Away from a threshold (the inputs' rounding and the coarse resolution decide within one):
    // the coarse estimate's resolution is 4^SHIFT 2^-16 = 0.25, so within 4% of 4^k for k > SPLIT.
    const near = (v: number) => Math.abs(Math.log(v) / Math.log(4) - Math.round(Math.log(v) / Math.log(4))) < 0.03;
    const wrong = [...spread].map((v, i) => (near(v) || b.s[i] === scaleOf(v) ? -1 : i)).filter((i) => i >= 0);
    t.deepEqual(wrong.slice(0, 5).map((i) => [spread[i], b.s[i]]), [], 'spread: 2^-e exactly');
    t.true([...spread].every((v, i) => !near(v) || [1, 2, 0.5].includes(b.s[i] / scaleOf(v))), 'near a threshold: within one power of two');
    sameViewStatistics(t, a.seen, b.seen, parties);
  });

for (const [name, protocol, opts] of GATE_FORMS)
  test.serial(`${name}, control: the scale from two estimates, its input's masking removed, flags the opening`, async (t) => {
    const [a, b] = await withoutInputMask(protocol, opts, async () => [await views(protocol, opts, constant), await views(protocol, opts, spread)]);
    const cmp = compareViews(a.seen, b.seen, 'server0');
    t.true(cmp.differ.some((d) => controlFlag(protocol, opts).test(d)), `flagged: ${cmp.differ.join('; ') || 'nothing'}`);
  });
