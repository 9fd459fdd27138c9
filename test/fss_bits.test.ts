// FSS's comparisons at a width n below 64 (ClusterOptions.fssBits): the gates take the sign of
// x mod 2^n, exact while |x| < 2^(n-1) ring units. Checked against plaintext fixed point on fresh
// random values and the range's edges, under both gate forms; a value just outside the range is
// the control that shows the width is applied; keys shrink with n; and each compute server's view
// has the same statistics for two secrets. Serial where FSS_STEPS (process-wide) is touched.
import test from 'ava';

import * as tfe from '../lib';
import { dcfBitKeyWords, dcfKeyWords } from '../lib/ops/fss';
import { FSS_STEPS } from '../lib/protocol/fss/steps';
import { exactRelu, recordedRelu, reluTraffic } from './helpers/relu_views';
import { newCluster } from './helpers/suites/harness';
import { compareViews, recordTensors } from './helpers/view_stats';

const U = 2 ** -16;
/** The largest magnitude a width-n gate takes: 2^(n-1) ring units less one, in values. */
const top = (n: number) => 2 ** (n - 17) - U;
const edges = (n: number) => [0, U, -U, 1, -1, top(n), -top(n), -(2 ** (n - 17))];
const randomIn = (count: number, n: number) => Array.from({ length: count }, () => Math.round(((Math.random() * 2 - 1) * top(n)) / U) * U);
const drelu = (xs: number[]) => xs.map((v) => (v >= 0 ? 1 : 0));

async function run(opts: tfe.ClusterOptions, data: number[], f: (x: tfe.PrivateTensor, zero: tfe.PrivateTensor) => tfe.AnyTensor): Promise<Float64Array> {
  const c = newCluster('fss', opts);
  try {
    const x = tfe.definePrivateInput('input-provider', () => ({ data, shape: [data.length] }), c);
    const zero = tfe.definePrivateInput('input-provider', () => ({ data: new Array<number>(data.length).fill(0), shape: [data.length] }), c);
    return (await tfe.defineOutput('output-receiver', f(x, zero))).data;
  } finally {
    await c.close();
  }
}

for (const fssGate of ['one-round', 'compact'] as const) {
  for (const fssBits of [32, 40, 20]) {
    test(`${fssGate} gate, fssBits ${fssBits}: relu and [x >= 0] exact on random values and the range's edges`, async (t) => {
      const xs = [...edges(fssBits), ...randomIn(300, fssBits)];
      t.deepEqual([...(await run({ fssGate, fssBits }, xs, (x) => tfe.relu(x)))], exactRelu(Float64Array.from(xs)));
      t.deepEqual([...(await run({ fssGate, fssBits }, xs, (x, zero) => tfe.greaterEqual(x, zero)))], drelu(xs));
    });
  }
  test(`${fssGate} gate: a value past 2^(n-1) ring units takes the wrong sign at width n (the width is applied), and the right one at 64`, async (t) => {
    const past = [2 ** 15 + 1, -(2 ** 15) - 1]; // 2^31 + 2^16 ring units: outside width 32
    t.notDeepEqual([...(await run({ fssGate, fssBits: 32 }, past, (x) => tfe.relu(x)))], exactRelu(Float64Array.from(past)));
    t.deepEqual([...(await run({ fssGate }, past, (x) => tfe.relu(x)))], exactRelu(Float64Array.from(past)));
  });
}

test('max pooling at width 32: exact while the compared differences stay in range', async (t) => {
  const data = randomIn(4 * 4 * 2, 31); // |l - r| < 2^31 ring units
  const c = newCluster('fss', { fssBits: 32 });
  try {
    const x = tfe.definePrivateInput('input-provider', () => ({ data, shape: [1, 4, 4, 2] }), c);
    const out = (await tfe.defineOutput('output-receiver', tfe.maxPool2d(x, { poolSize: 2, strides: 2 }))).data;
    const want: number[] = [];
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 2; j++)
        for (let ch = 0; ch < 2; ch++) {
          const at = (di: number, dj: number) => data[((2 * i + di) * 4 + 2 * j + dj) * 2 + ch];
          want.push(Math.max(at(0, 0), at(0, 1), at(1, 0), at(1, 1)));
        }
    t.deepEqual([...out], want);
  } finally {
    await c.close();
  }
});

test('keys shrink with the width: a one-round relu key of 1032 bytes at 32 bits (2056 at 64), a compact one of 424 (936)', async (t) => {
  const n = 100;
  const key32 = 8 * dcfKeyWords(31, 2);
  t.is(key32, 1032);
  t.is((await reluTraffic(n, { fssGate: 'one-round', fssBits: 32 })).bytes, n * (2 * key32 + 3 * 8 + 2 * 8));
  t.is(8 * dcfBitKeyWords(31), 424);
  t.is(8 * dcfBitKeyWords(63), 936);
});

test('the width is checked: an integer in [16, 64]', (t) => {
  for (const bad of [8, 15, 65, 32.5, '32'] as unknown[]) t.throws(() => newCluster('fss', { fssBits: bad as number }), { message: /fssBits must be an integer in \[16, 64\]/ });
});

// 21 bits is not a whole number of bytes, and it is the width of every smooth activation's knot
// comparisons (c = min(|x|, 10) at 16 fractional bits), whatever fssBits: sigmoid at fssBits 21
// runs all its comparisons at 21 bits.
const VIEW_CASES: [string, number, (x: tfe.PrivateTensor) => tfe.PrivateTensor][] = [
  ['relu', 32, tfe.relu],
  ['relu', 21, tfe.relu],
  ['sigmoid', 21, tfe.sigmoid],
];

test.serial('fssBits 32 and 21, both gate forms: every compute server view has the same statistics for two secrets; the control without the input mask fails', async (t) => {
  for (const [name, fssBits, op] of VIEW_CASES) {
    // Within the width's range: |x| < 2^(fssBits - 1 - 16), with room for relu's own gate.
    const constant = new Float64Array(2048).fill(-1.25);
    const spread = Float64Array.from({ length: 2048 }, () => (Math.random() - 0.5) * 0.9 * 2 ** (fssBits - 16));
    for (const fssGate of ['one-round', 'compact'] as const) {
      const opts = { fssGate, fssBits };
      const what = `${name} at ${fssBits} bits, ${fssGate}`;
      const [a, b] = [await recordedRelu('fss', constant, recordTensors, opts, op), await recordedRelu('fss', spread, recordTensors, opts, op)];
      if (name === 'relu') t.deepEqual([...b.out], exactRelu(spread), `${what}: exact`);
      for (const party of ['server0', 'server1']) {
        const cmp = compareViews(a.seen, b.seen, party);
        t.deepEqual(cmp.unmatched, [], `${what} ${party}: the same messages`);
        t.deepEqual(cmp.differ, [], `${what} ${party}: ${cmp.checked} statistics agree`);
        t.true(cmp.checked >= 6, `${what} ${party}: ${cmp.checked} compared`);
      }
      FSS_STEPS.maskInput = false;
      try {
        const [a2, b2] = [await recordedRelu('fss', constant, recordTensors, opts, op), await recordedRelu('fss', spread, recordTensors, opts, op)];
        t.true(compareViews(a2.seen, b2.seen, 'server0').differ.some((d) => d.includes('fss.open')), `${what}: the control flags the opening`);
      } finally {
        FSS_STEPS.maskInput = true;
      }
    }
  }
});
