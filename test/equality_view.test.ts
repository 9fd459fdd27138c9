// What each server can learn from an equality test ([x = 0]: the lookups' step, StringLookup and
// TextVectorization's per token and vocabulary entry), from everything it receives: under FSS one
// DPF key per element, server1's share of r and the peer's share of x + r (lib/protocol/fss/
// equality.ts), server2 nothing; under SecureNN one DReLU gate over [x; x - 1]. Each server's
// whole view is compared for two secrets, every element zero and none zero, with each form's
// input masking removed as the control that must fail. Serial: the switches are process-wide.
import test from 'ava';

import * as tfe from '../lib';
import { equalZeroWhole } from '../lib/api/comparison_ops';
import { dpfKeyWords } from '../lib/ops/fss';
import { controlFlag, GATE_FORMS, recordedRelu, spread, withoutInputMask } from './helpers/relu_views';
import { newCluster, type Protocol } from './helpers/suites/harness';
import { compareViews, recordTensors, sameViewStatistics } from './helpers/view_stats';

const zeros = new Float64Array(spread.length);
// Half zeros, half the spread values (whose encodings are never 0 but about once in 2^20 runs: spread is over +-10^6).
const mixed = Float64Array.from(spread, (v, i) => (i % 2 ? 0 : v));
const views = (protocol: Protocol, opts: tfe.ClusterOptions, x: Float64Array) => recordedRelu(protocol, x, recordTensors, opts, tfe.equalZero);

for (const [name, protocol, opts, parties] of GATE_FORMS)
  test.serial(`${name} equalZero: exact, and every server's view has the same statistics when every value is 0 and when none is`, async (t) => {
    const [a, b] = [await views(protocol, opts, zeros), await views(protocol, opts, spread)];
    t.deepEqual([...a.out], [...zeros].map(() => 1), 'all zero');
    t.deepEqual([...(await views(protocol, opts, mixed)).out], [...mixed].map((v) => (v === 0 ? 1 : 0)), 'exact on a mix');
    if (protocol === 'fss') t.deepEqual(b.seen.filter((m) => m.to === 'server2' && m.key.includes('equalZero')).map((m) => m.key), [], 'server2 receives nothing');
    sameViewStatistics(t, a.seen, b.seen, parties);
  });

// The paper's DReLU has no control here: withoutInputMask removes its relu's Beaver masking, and
// equalZero has no product (its DReLU's own views and controls: test/securenn_view.test.ts).
for (const [name, protocol, opts] of GATE_FORMS.filter(([, , o]) => o.securennDrelu !== 'paper'))
  test.serial(`${name} equalZero, control: its input's masking removed, the same comparison flags the opening`, async (t) => {
    const [a, b] = await withoutInputMask(protocol, opts, async () => [await views(protocol, opts, zeros), await views(protocol, opts, spread)]);
    const cmp = compareViews(a.seen, b.seen, 'server0');
    t.true(cmp.differ.some((d) => controlFlag(protocol, opts).test(d)), `flagged: ${cmp.differ.join('; ') || 'nothing'}`);
  });

test.serial('FSS equalZero traffic: one DPF key pair, one dealt correction and one opening per element, in one online round', async (t) => {
  for (const fssGate of ['one-round', 'compact'] as const) {
    const c = newCluster('fss', { fssGate });
    try {
      const n = 100;
      const seen = recordTensors(c);
      const x = tfe.definePrivateInput('input-provider', () => ({ data: Array.from({ length: n }, (_, i) => (i % 3) - 1), shape: [n] }), c);
      await x.shares;
      await tfe.equalZero(x).shares;
      const { bytes, messages, rounds } = c.transport.traffic().byOp.equalZero;
      // An input's bound is not known: the gate takes the whole ring (64 bits).
      const key = 8 * dpfKeyWords(64);
      t.deepEqual(seen.filter((m) => m.key.includes('fss.key')).map((m) => m.shape), [[n, dpfKeyWords(64)], [n, dpfKeyWords(64)]], `${fssGate}: one key each`);
      t.is(bytes, n * (2 * key + 8 + 2 * 8), `${fssGate}: keys, r's correction to server1, x + r both ways`);
      t.is(messages, 2 + 1 + 2);
      // Keys and the correction (offline, from server2, in parallel), then the one opening.
      t.is(rounds, 3);
      t.is(key, 1048, 'a 64-bit DPF key is 131 words');
    } finally {
      await c.close();
    }
  }
});

test.serial('FSS equality on whole numbers (differences of strings\' ids): the DPF leaves the fraction bits out, 47 levels for ids below 2^46, exact at the edges', async (t) => {
  const c = newCluster('fss');
  try {
    const seen = recordTensors(c);
    const top = 2 ** 46 - 1;
    const values = [0, 1, -1, top, -top, 2 ** 45, -(2 ** 45), 65536, -65536, ...Array.from({ length: 200 }, () => Math.floor((Math.random() - 0.5) * 2 * top)), ...new Array(50).fill(0)];
    const x = tfe.definePrivateInput('input-provider', () => ({ data: values, shape: [values.length] }), c) as tfe.PrivateTensor;
    const bound = BigInt(top) << 16n;
    const out = await tfe.defineOutput('output-receiver', equalZeroWhole(x.withBound(bound)));
    t.deepEqual([...out.data], values.map((v) => (v === 0 ? 1 : 0)));
    // bitLength(bound) + 1 = 63 bits, less the 16 fraction bits.
    t.deepEqual(seen.filter((m) => m.to === 'server0' && m.key.includes('fss.key')).map((m) => m.shape), [[values.length, dpfKeyWords(47)]]);
  } finally {
    await c.close();
  }
});
