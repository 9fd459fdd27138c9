import test from 'ava';

import * as tfe from '../lib';
import { TRUNCATION_STEPS } from '../lib/protocol/pond/arith';
import { compareViews, recordTensors } from './helpers/view_stats';
import { enc } from './helpers/fixed';

// Interactive truncation (server2 deals r and r >> f, the servers open x + 2^L + r) must give
// the same results as plaintext within one unit per truncation, and, unlike local truncation,
// never a wrap-around error, whatever the shares.
test('interactive truncation: products within one unit per truncation, no wrap-around failures', async (t) => {
  const cluster = new tfe.Cluster({ fixedPoint: { truncation: 'interactive' } });
  const n = 20000;
  const xs = Float64Array.from({ length: n }, () => (Math.random() * 2 - 1) * 8);
  const ys = Float64Array.from({ length: n }, () => (Math.random() * 2 - 1) * 8);
  xs[0] = 0;
  ys[1] = -8;
  const x = tfe.definePrivateInput('input-provider', () => ({ data: xs, shape: [n] }), cluster);
  const y = tfe.definePrivateInput('input-provider', () => ({ data: ys, shape: [n] }), cluster);
  const out = await tfe.defineOutput('output-receiver', tfe.mul(x, y));
  const u = 2 ** -16;
  let worst = 0;
  for (let i = 0; i < n; i++) {
    // Encoding error of each operand is at most u/2, so |x~ y~ - x y| <= (|x| + |y|) u/2 + u^2/4,
    // and the truncation adds at most one unit.
    const bound = (Math.abs(xs[i]) + Math.abs(ys[i])) * (u / 2) + u * u + u;
    worst = Math.max(worst, Math.abs(out.data[i] - xs[i] * ys[i]) / bound);
  }
  t.true(worst <= 1, `worst error / bound = ${worst}`);
  await cluster.close();
});

// A public constant's product truncates only the constant's fractional bits (docs/pond.md): server2
// deals its pair for that many bits (2 for 0.75, 14 for 4.0625 / 1024 = 65 2^-14, 16 for -0.1),
// none for an integer.
test('interactive truncation: products with public constants truncate by their own bit counts, within one unit', async (t) => {
  const cluster = new tfe.Cluster({ fixedPoint: { truncation: 'interactive' } });
  try {
    const n = 5000, u = 2 ** -16;
    const xs = Float64Array.from({ length: n }, () => Math.round((Math.random() * 2 - 1) * 1000 / u) * u);
    const x = tfe.definePrivateInput('input-provider', () => ({ data: xs, shape: [n] }), cluster);
    for (const k of [0.75, 4.0625 / 1024, 3, -0.1]) {
      const out = await tfe.defineOutput('output-receiver', tfe.mul(x, k));
      const kEnc = Math.round(k / u) * u;
      const worst = Math.max(...Array.from(xs, (v, i) => Math.abs(out.data[i] - v * kEnc)));
      t.true(worst <= u, `x * ${k}: worst error ${worst / u} units`);
    }
  } finally {
    await cluster.close();
  }
});

test('interactive truncation costs one extra round and 2 x 8n opening + 2 x 8n dealing bytes', async (t) => {
  const cluster = new tfe.Cluster({ fixedPoint: { truncation: 'interactive' } });
  const n = 100;
  const x = tfe.definePrivateInput('input-provider', () => ({ data: Float64Array.from({ length: n }, () => Math.random()), shape: [n] }), cluster);
  await x.shares;
  await (await x.masked());
  cluster.transport.resetTraffic();
  await (tfe.square(x) as tfe.PrivateTensor).shares;
  const sq = cluster.transport.traffic().byOp.square;
  // triple correction 8n, truncation pair corrections 2 x 8n, opening of x + 2^L + r 2 x 8n.
  t.is(sq.bytes, 8 * n + 2 * 8 * n + 2 * 8 * n);
  t.is(sq.rounds, 3);
  await cluster.close();
});

// What each compute server sees of an interactive truncation: the peer's half of y = x + 2^L + r
// (its own half it made from its share), and server2's corrections for the pair. For two different
// products (53.29 and -44.53, near the bound 2^(L-2f) = 64) the views' statistics must
// agree: r hides x statistically, within 2^-KAPPA. The control opens y without r.
test('interactive truncation: each compute server\'s view has the same statistics for two secrets; without r it does not', async (t) => {
  const views = async (value: number) => {
    const cluster = new tfe.Cluster({ fixedPoint: { truncation: 'interactive' } });
    try {
      const n = 8192;
      // Products below 2^(L - 2f) = 64 in magnitude: 7.3 * 7.3 and -6.1 * 7.3 (not dyadic, so
      // that the unmasked openings differ in their low bytes too, what the statistics read).
      const x = tfe.definePrivateInput('input-provider', () => ({ data: new Float64Array(n).fill(value), shape: [n] }), cluster);
      const y = tfe.definePrivateInput('input-provider', () => ({ data: new Float64Array(n).fill(7.3), shape: [n] }), cluster);
      await Promise.all([x.shares, y.shares]);
      const seen = recordTensors(cluster);
      const out = await tfe.defineOutput('output-receiver', tfe.mul(x, y));
      t.true(out.data.every((v) => Math.abs(v - enc(value) * enc(7.3)) <= 2 ** -16), 'the products, within one unit');
      return seen.filter((m) => !m.key.includes('output'));
    } finally {
      await cluster.close();
    }
  };
  const compare = async () => {
    const [a, b] = [await views(7.3), await views(-6.1)];
    return ['server0', 'server1'].map((party) => ({ party, opened: a.some((m) => m.to === party && m.key.includes('truncOpen')), cmp: compareViews(a, b, party) }));
  };
  for (const { party, opened, cmp } of await compare()) {
    t.true(opened, `${party} receives the opening`);
    t.deepEqual(cmp.unmatched, [], `${party}: the same messages for both secrets`);
    t.deepEqual(cmp.differ, [], `${party}: ${cmp.checked} statistics agree`);
  }
  TRUNCATION_STEPS.mask = false;
  try {
    for (const { party, cmp } of await compare()) t.true(cmp.differ.some((d) => d.includes('truncOpen')), `${party}: the control flags the opening (${cmp.differ.join('; ')})`);
  } finally {
    TRUNCATION_STEPS.mask = true;
  }
});
