// FSS gates as wide as their inputs can be (lib/api/bounds.ts, gate_common.ts gateBits): a
// truncation's output is within 2^(63-f) + 1 of zero whatever its operands, so a relu right after
// a product compares 64 - f bits instead of 63; sums, maxima and model weights carry their bounds
// on; anything else (an input, a public operand) keeps the whole ring. Checked by the key bytes
// each op's gates take, by exactness on truncated products as large as a successful truncation
// gives (against the values the gates saw, revealed), with the width cut by two as the control
// that must fail, and by the refusal of weights beyond the range the bounds assume.
import test from 'ava';

import * as tfe from '../lib';
import { checkWeightRange, truncatedBound, weightBound } from '../lib/api/bounds';
import { dcfBitKeyWords, dcfKeyWords } from '../lib/ops/fss';
import { reduceMaxWholeRing } from '../lib/api/comparison_ops';
import { FSS_STEPS } from '../lib/protocol/fss/steps';
import { F } from './helpers/fixed';
import { rnd, writeModel } from './helpers/model_files';
import { newCluster } from './helpers/suites/harness';
import { compareViews, recordTensors, type Seen } from './helpers/view_stats';

/** Bytes a one-round relu gate of width n takes per element: two keys, three dealt corrections, the opening both ways. */
const perRelu = (n: number) => 2 * 8 * dcfKeyWords(n - 1, 2) + 3 * 8 + 2 * 8;

const input = (c: tfe.Cluster, data: number[], shape = [data.length]) => tfe.definePrivateInput('input-provider', () => ({ data, shape }), c);

/** The online and dealt bytes of op `name` once `build` has run (one-round gates). */
async function opBytes(name: string, build: (c: tfe.Cluster) => tfe.AnyTensor, opts: tfe.ClusterOptions = {}): Promise<number> {
  const c = newCluster('fss', { fssGate: 'one-round', ...opts });
  try {
    await (build(c) as tfe.PrivateTensor).shares;
    return c.transport.traffic().byOp[name].bytes;
  } finally {
    await c.close();
  }
}

test('the bounds: a truncation gives 2^(63-f) + 1, model weights 2^(62-f), and a relu after a product plus a bias compares 64 - f bits', (t) => {
  t.is(truncatedBound(16), 2n ** 47n + 1n);
  t.is(weightBound(16), 2n ** 46n);
  // 2^47 + 1 + 2^46 < 2^48: bit length 48, so 49 bits with the sign; the difference of two such values 50.
  t.is((truncatedBound(16) + weightBound(16)).toString(2).length, 48);
  t.is((2n * (truncatedBound(16) + weightBound(16))).toString(2).length, 49);
});

test('key bytes follow the bounds: gates of width 49 after a product (and a constant added), 50 after a sum of two, 64 on an input or with a public tensor added, and fssBits caps them', async (t) => {
  const n = 64;
  const data = () => Array.from({ length: n }, () => Math.random() - 0.5);
  const product = (c: tfe.Cluster) => tfe.mul(input(c, data()), input(c, data()));
  t.is(await opBytes('relu', (c) => tfe.relu(product(c))), n * perRelu(49));
  t.is(await opBytes('relu', (c) => tfe.relu(tfe.add(product(c), product(c)))), n * perRelu(50));
  t.is(await opBytes('relu', (c) => tfe.relu(input(c, data()))), n * perRelu(64));
  // A constant of the program is known to every party: its magnitude adds to the bound (relu6's x - 6, say).
  t.is(await opBytes('relu', (c) => tfe.relu(tfe.sub(product(c), 0.5))), n * perRelu(49));
  // A public tensor's values are the compute servers', not server2's, which deals the keys: no bound.
  const pub = (c: tfe.Cluster) => tfe.definePublicInput('input-provider', () => ({ data: data(), shape: [n] }), c);
  t.is(await opBytes('relu', (c) => tfe.relu(tfe.add(product(c), pub(c)))), n * perRelu(64));
  t.is(await opBytes('relu', (c) => tfe.relu(product(c)), { fssBits: 32 }), n * perRelu(32));
  // Max pooling compares differences of two candidates: 50 bits after a product, 3 gate elements per 2x2 window.
  const pooled = (c: tfe.Cluster) => tfe.maxPool2d(tfe.mul(input(c, data(), [1, 4, 4, 4]), input(c, data(), [1, 4, 4, 4])), { poolSize: 2 });
  t.is(await opBytes('maxPool2d', pooled), 3 * 16 * perRelu(50));
});

// A smooth activation compares c - t_k for its 5 inner knots, c = min(|x|, 10) in [0, 10]: width 21 at
// fracBits 16 (the bound 10 * 2^16 has 20 bits), where a subtraction of the knots' public column
// left it the whole ring's 64; the same comparison on an input takes 64 (the reference).
test("a smooth activation's knot comparisons take the width of its clamp (21 bits), not the ring's", async (t) => {
  const n = 64;
  const data = () => Array.from({ length: n }, () => (Math.random() - 0.5) * 8);
  const knots = await opBytes('nonNegative', (c) => tfe.sigmoid(input(c, data())));
  const whole = await opBytes('greaterEqual', (c) => tfe.greaterEqual(input(c, Array.from({ length: 5 }, data).flat()), 0));
  const at21 = await opBytes('nonNegative', (c) => tfe.sigmoid(input(c, data())), { fssBits: 21 });
  t.is(knots, at21, 'as if fssBits were 21: the width is 21');
  t.true(knots < 0.5 * whole, `${knots} bytes for 5 x ${n} knot comparisons (its 5 inner knots) against ${whole} on the whole ring`);
});

test('a loaded model: its relus after Dense layers with biases take width 49, and its answers match the float reference to fixed-point precision', async (t) => {
  const weights = [
    { name: 'd0/kernel', shape: [8, 16], data: rnd(128, 0.5) },
    { name: 'd0/bias', shape: [16], data: rnd(16, 0.5) },
    { name: 'd1/kernel', shape: [16, 4], data: rnd(64, 0.5) },
    { name: 'd1/bias', shape: [4], data: rnd(4, 0.5) },
  ];
  const file = writeModel(
    [
      { class_name: 'Dense', config: { name: 'd0', units: 16, activation: 'relu', use_bias: true, batch_input_shape: [null, 8] } },
      { class_name: 'Dense', config: { name: 'd1', units: 4, activation: 'linear', use_bias: true } },
    ],
    weights,
  );
  const c = newCluster('fss', { fssGate: 'one-round' });
  try {
    const model = tfe.loadLayersModel(file, { cluster: c });
    const x = Array.from({ length: 8 }, () => Math.random() * 2 - 1);
    const out = await tfe.defineOutput('output-receiver', model.predict(model.defineInput('input-provider', () => ({ data: x, shape: [1, 8] }))));
    t.is(c.transport.traffic().byOp.relu.bytes, 16 * perRelu(49));
    // Float reference: the private answer is within the fixed point's few units of it.
    const [k0, b0, k1, b1] = weights.map((w) => w.data);
    const h = Array.from({ length: 16 }, (_, j) => Math.max(0, b0[j] + x.reduce((s, v, i) => s + v * k0[i * 16 + j], 0)));
    const want = Array.from({ length: 4 }, (_, j) => b1[j] + h.reduce((s, v, i) => s + v * k1[i * 4 + j], 0));
    for (let j = 0; j < 4; j++) t.true(Math.abs(out.data[j] - want[j]) < 1e-3, `output ${j}: ${out.data[j]} against ${want[j]}`);
  } finally {
    await c.close();
  }
});

/**
 * Products x_i w_i whose truncations give values up to 2^47 ring units (a successful local
 * truncation of a product near 2^63 is rare: its probability is 1 - |X| / 2^63), relu'd at the
 * width their bound gives; returns the relu's answers and the truncated values the gates saw,
 * where the truncation succeeded (within one unit of x_i w_i 2^16; the others are excluded).
 */
async function largeProducts(count: number): Promise<{ seen: number[]; relu: number[] }> {
  const c = newCluster('fss', { fssGate: 'one-round' });
  try {
    // |x w| spread over [2^28, 2^31) in value: 2^44 to 2^47 ring units after truncation.
    const xs = Array.from({ length: count }, () => (Math.random() < 0.5 ? -1 : 1) * 2 ** (14 + Math.random()));
    const ws = Array.from({ length: count }, () => (Math.random() < 0.5 ? -1 : 1) * 2 ** (14 + 2 * Math.random()));
    const y = tfe.mul(input(c, xs), input(c, ws)) as tfe.PrivateTensor;
    const [seen, relu] = await Promise.all([tfe.defineOutput('output-receiver', tfe.reveal(y)), tfe.defineOutput('output-receiver', tfe.relu(y))]);
    const ok: number[] = [];
    for (let i = 0; i < count; i++) {
      const exact = Math.round(xs[i] * 2 ** F) * Math.round(ws[i] * 2 ** F) / 2 ** (2 * F);
      if (Math.abs(seen.data[i] - exact) <= 2 ** -F) ok.push(i);
    }
    return { seen: ok.map((i) => seen.data[i]), relu: ok.map((i) => relu.data[i]) };
  } finally {
    await c.close();
  }
}

test.serial('relu at the derived width is exact on truncated products up to 2^47 ring units; two bits narrower it is not (the control)', async (t) => {
  const { seen, relu } = await largeProducts(400);
  t.true(seen.length >= 100, `${seen.length} of 400 truncations succeeded`);
  // 55-75 in practice: a quarter of the products are past 2^30, and most of their truncations succeed.
  const big = seen.filter((v) => Math.abs(v) >= 2 ** 30).length;
  t.log(`${seen.length} of 400 truncations succeeded, ${big} of them at 2^46 ring units or more`);
  t.true(big >= 5, 'values at 2^46 ring units and above');
  t.deepEqual(relu, seen.map((v) => Math.max(v, 0)));
  FSS_STEPS.widthCut = 2; // 47 bits: exact only below 2^46 ring units
  try {
    const cut = await largeProducts(400);
    t.notDeepEqual(cut.relu, cut.seen.map((v) => Math.max(v, 0)));
    t.deepEqual(cut.relu.filter((_, i) => Math.abs(cut.seen[i]) < 2 ** 30), cut.seen.filter((v) => Math.abs(v) < 2 ** 30).map((v) => Math.max(v, 0)));
  } finally {
    FSS_STEPS.widthCut = 0;
  }
});

test('weights of 2^(62-2f) or more are refused, naming the weight and the element', (t) => {
  t.notThrows(() => checkWeightRange([{ name: 'k', data: [2 ** 30 - 1, -(2 ** 30) + 1] }], 16, 'deploy'));
  t.throws(() => checkWeightRange([{ name: 'dense/bias', data: [0, -(2 ** 30)] }], 16, 'deploy'), {
    message: "deploy: weight 'dense/bias' element 1 is -1073741824: model weights must be below 2^30 (1073741824) in magnitude at 16 fractional bits (larger ones overflow the ring in products)",
  });
  const file = writeModel([{ class_name: 'Dense', config: { name: 'd', units: 2, use_bias: true, batch_input_shape: [null, 2] } }], [
    { name: 'd/kernel', shape: [2, 2], data: Float32Array.from([1, 2, 3, 2 ** 31]) },
    { name: 'd/bias', shape: [2], data: new Float32Array(2) },
  ]);
  const c = newCluster('fss');
  try {
    t.throws(() => tfe.loadLayersModel(file, { cluster: c }), { message: /^loadLayersModel: weight 'd\/kernel' element 3 is 2147483648: model weights must be below 2\^30/ });
  } finally {
    void c.close();
  }
});

test("verify's debugRanges compares on the whole ring: a value past its tensor's bound (a failed truncation's, say) is still seen; reduceMax at the bound's width misses it (the control)", async (t) => {
  const c = newCluster('fss');
  try {
    // 2^20 in value is 2^36 ring units; the bound claims 2^20 ring units (widths of 22 bits).
    const data = [1, -3, 2 ** 20, 5];
    const lying = () => input(c, data).withBound(2n ** 20n);
    const [whole, narrow] = await Promise.all([
      tfe.defineOutput('output-receiver', reduceMaxWholeRing(lying(), 0)),
      tfe.defineOutput('output-receiver', tfe.reduceMax(lying(), 0)),
    ]);
    t.deepEqual([...whole.data], [2 ** 20]);
    t.notDeepEqual([...narrow.data], [2 ** 20]);
  } finally {
    await c.close();
  }
});

/** Every tensor message of relu(x * 1) (a product, so the gate takes width 49) under `fssGate`, recorded. */
async function productReluViews(x: Float64Array, fssGate: 'one-round' | 'compact'): Promise<Seen[]> {
  const c = newCluster('fss', { fssGate });
  try {
    const seen = recordTensors(c);
    const y = tfe.mul(input(c, [...x]), input(c, new Array<number>(x.length).fill(1)));
    await tfe.defineOutput('output-receiver', tfe.relu(y));
    return seen;
  } finally {
    await c.close();
  }
}

const constant = new Float64Array(2048).fill(-1.25);
// Small enough that x * 1's local truncations do not fail (probability about 2^-24 per element at 100).
const spread = Float64Array.from({ length: 2048 }, () => (Math.random() - 0.5) * 200);

test.serial("at the derived width, both gate forms: each compute server's view has the same statistics for two secrets, and without the input mask (the control) it does not; server0's sign guess from the compact gate's bits is a coin toss (always right without the bit mask, the control)", async (t) => {
  for (const fssGate of ['one-round', 'compact'] as const) {
    const [a, b] = [await productReluViews(constant, fssGate), await productReluViews(spread, fssGate)];
    const key = a.find((m) => m.key.includes('relu/fss.key'))!;
    t.is(key.shape[1], fssGate === 'compact' ? dcfBitKeyWords(48) : dcfKeyWords(48, 2), `${fssGate}: keys of 48 compared bits`);
    for (const party of ['server0', 'server1']) {
      const cmp = compareViews(a, b, party);
      t.deepEqual(cmp.unmatched, [], `${fssGate}, ${party}: the same messages for both secrets`);
      t.deepEqual(cmp.differ, [], `${fssGate}, ${party}: ${cmp.checked} statistics agree`);
    }
    FSS_STEPS.maskInput = false;
    try {
      const [ua, ub] = [await productReluViews(constant, fssGate), await productReluViews(spread, fssGate)];
      t.true(compareViews(ua, ub, 'server0').differ.some((d) => d.includes('fss.open')), `${fssGate}: unmasked, the opening is flagged`);
    } finally {
      FSS_STEPS.maskInput = true;
    }
    if (fssGate !== 'compact') continue;
    // server0 XORs the masked bits it sent and received: DReLU xor m, so m decides.
    const guessRate = (seen: Seen[]) => {
      const bitsOf = (from: string, to: string) => seen.find((m) => m.from === from && m.to === to && m.key.includes('relu/fss.bit'))!.data;
      const [mine, theirs] = [bitsOf('server0', 'server1'), bitsOf('server1', 'server0')];
      let right = 0;
      for (let i = 0; i < spread.length; i++) right += (mine[i] ^ theirs[i]) === (spread[i] >= 0 ? 1 : 0) ? 1 : 0;
      return right / spread.length;
    };
    const masked = guessRate(b);
    t.true(Math.abs(masked - 0.5) < 0.06, `with m the guess is right ${(100 * masked).toFixed(1)}% of the time`);
    FSS_STEPS.maskBit = false;
    try {
      t.is(guessRate(await productReluViews(spread, fssGate)), 1, 'without m (the control) it is always right');
    } finally {
      FSS_STEPS.maskBit = true;
    }
  }
});

test("SAME max pooling over a product: windows at the edges take their real pixels' maximum, at the product's width (the padding repeats edge pixels)", async (t) => {
  const c = newCluster('fss', { fssGate: 'one-round' });
  try {
    // 3x3 negative pixels, times 1 (a product: bounded), pooled 2x2 stride 2 SAME: the right and
    // bottom windows are half padding, which must never win.
    const px = Array.from({ length: 9 }, (_, i) => -(i + 1) - Math.random());
    const y = tfe.mul(input(c, px, [1, 3, 3, 1]), input(c, new Array<number>(9).fill(1), [1, 3, 3, 1]));
    const out = await tfe.defineOutput('output-receiver', tfe.maxPool2d(y, { poolSize: 2, strides: 2, padding: 'SAME' }));
    const at = (i: number, j: number) => (i < 3 && j < 3 ? px[i * 3 + j] : -Infinity);
    const want = [0, 2].flatMap((i) => [0, 2].map((j) => Math.max(at(i, j), at(i, j + 1), at(i + 1, j), at(i + 1, j + 1))));
    for (let k = 0; k < 4; k++) t.true(Math.abs(out.data[k] - want[k]) <= 2 ** -15, `window ${k}: ${out.data[k]} against ${want[k]}`);
    // The differences of two products' values: 50 bits, as for VALID pooling (a constant padding
    // value of -2^(45+f), as before, made them the whole ring's 64).
    t.is(c.transport.traffic().byOp.maxPool2d.bytes, 3 * 4 * perRelu(50));
  } finally {
    await c.close();
  }
});
