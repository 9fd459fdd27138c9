// verify's range check saw each layer's output only. A calibrated polynomial forms x^2 and x^3,
// attention forms q.k (and MultiHeadAttention its projections) before its softmax, a Dense or
// Conv with a fused activation its product before the activation, and a recurrent layer x W,
// h U and its gates' inputs: products at 2 fracBits larger than the layer's output, whose
// truncation fails first. They are now reported (`products`) and warned of, from the plaintext
// values of the samples.
import test from 'ava';

import * as tfe from '../lib';
import { artifactsOf, block, D, H, KD, T as MHA_T } from './helpers/attention_models';
import { writeModel } from './helpers/model_files';

const F = 16;

/** Dense [4 -> 8] with weights of `scale`, then a degree-3 TfePolynomial x + 2^-16 x^3 (public coefficients, exact at fracBits 16). */
function polyModel(scale: number): { file: string; dense: (x: Float64Array) => Float64Array } {
  const k = Float32Array.from({ length: 32 }, (_, i) => (((i * 7) % 11) / 5 - 1) * scale);
  const b = new Float32Array(8);
  const file = writeModel(
    [
      { class_name: 'Dense', config: { name: 'd', units: 8, batch_input_shape: [null, 4], use_bias: true, activation: 'linear' } },
      { class_name: 'TfePolynomial', config: { name: 'poly', coeffs: [0, 1, 0, 2 ** -16] } },
    ],
    [
      { name: 'd/kernel', shape: [4, 8], data: k },
      { name: 'd/bias', shape: [8], data: b },
    ],
  );
  const dense = (x: Float64Array) => {
    const n = x.length / 4, out = new Float64Array(n * 8);
    for (let r = 0; r < n; r++) for (let o = 0; o < 8; o++) for (let i = 0; i < 4; i++) out[r * 8 + o] += x[r * 4 + i] * k[i * 8 + o];
    return out;
  };
  return { file, dense };
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

test("verify reports a polynomial's x^3 and warns when it nears the ring's limit while the layer outputs do not", async (t) => {
  // Inputs of +-1: most rows' dense outputs are near the largest, where x^3 leaves ~5.5 bits. (How
  // often Pond's truncation fails there is test/calibrate_fixed_point.test.ts's business.)
  const n = 96;
  const x = Float64Array.from({ length: n * 4 }, () => (Math.random() < 0.5 ? -1 : 1));
  const c = new tfe.Cluster({ protocol: 'pond', fixedPoint: { fracBits: F } });
  try {
    for (const [scale, warned] of [[1, false], [100, true]] as const) {
      const { file, dense } = polyModel(scale);
      const m = tfe.loadLayersModel(file, { cluster: c });
      const r = await m.verify({ data: x, shape: [n, 4] }, { batchSize: 32 });
      const top = maxAbs(dense(x));
      t.is(r.products.length, 1, JSON.stringify(r.products));
      const p = r.products[0];
      t.is(p.layer, 'TfePolynomial:poly (x^3)');
      t.true(Math.abs(p.plainMaxAbs - top ** 3) <= 1e-9 * top ** 3, `${p.plainMaxAbs} vs ${top ** 3}`);
      t.true(Math.abs(p.bitsLeft - (63 - 2 * F - 3 * Math.log2(top))) < 1e-9);
      t.is(p.warning !== undefined, warned, `max |x| ${top}: ${p.bitsLeft} bits left`);
      // The outputs alone (max |x + 2^-16 x^3| about 2^10.5: 20 bits left) warn of nothing.
      const rangeWarnings = r.warnings.filter((w) => /bits below the ring's limit|beyond the ring's limit/.test(w));
      t.is(rangeWarnings.length, warned ? 1 : 0, r.warnings.join('\n'));
      if (warned) {
        t.regex(rangeWarnings[0], /^TfePolynomial:poly \(x\^3\): max \|value\| .*\(a product inside the layer/);
      }
    }
  } finally {
    await c.close();
  }
});

test("the plaintext model tells of attention's scores: q.k before the softmax, and Attention's learned scale", (t) => {
  const T = 5, D = 3;
  const layers = [
    { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, T, D] }, inbound_nodes: [] },
    { class_name: 'Attention', config: { name: 'att', use_scale: true }, inbound_nodes: [[['in', 0, 0, {}], ['in', 0, 0, {}]]] },
  ];
  const scale = 0.25;
  const a = artifactsOf({ class_name: 'Functional', keras_version: '2.15.0', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [['att', 0, 0]] } }, [{ name: 'att/scale', shape: [], data: Float32Array.of(scale) }]);
  const x = Float64Array.from({ length: 2 * T * D }, () => (Math.random() * 2 - 1) * 40);
  let want = 0; // the largest |q_i . k_j| (self-attention: q = k = the input), which is above |scale q.k|
  for (let b = 0; b < 2; b++)
    for (let i = 0; i < T; i++)
      for (let j = 0; j < T; j++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += x[(b * T + i) * D + d] * x[(b * T + j) * D + d];
        want = Math.max(want, Math.abs(dot));
      }
  const heard: [string, string, number][] = [];
  const out = tfe.loadPlainModel(a).forward({ data: x, shape: [2, T, D] }, undefined, undefined, (layer, what, m) => heard.push([layer, what, m]));
  t.is(heard.length, 1);
  t.is(heard[0][0], 'Attention:att');
  t.is(heard[0][1], 'scores');
  t.true(Math.abs(heard[0][2] - want) <= 1e-9 * want, `${heard[0][2]} vs ${want}`);
  t.true(maxAbs(out.data) <= 40, 'the output is a convex mix of the inputs: far below the scores');
});

type Heard = [string, string, number][];
const listen = (a: tfe.ModelArtifacts, x: { data: Float64Array; shape: number[] }): Heard => {
  const heard: Heard = [];
  tfe.loadPlainModel(a).forward(x, undefined, undefined, (layer, what, m) => heard.push([layer, what, m]));
  return heard;
};
const seq = (layers: object[]) => ({ class_name: 'Sequential', config: { name: 's', layers } });

test("a fused activation's input and a recurrent layer's products are heard; a separate Activation layer's is not (its input is a layer's output)", (t) => {
  const x = { data: Float64Array.of(1, 1, 1, -1), shape: [2, 2] };
  // Dense(2 -> 4, tanh) with kernel 4000: z = 8000 (first row), its tanh 1.
  const dense = artifactsOf(seq([{ class_name: 'Dense', config: { name: 'd', units: 4, activation: 'tanh', batch_input_shape: [null, 2] } }]), [
    { name: 'd/kernel', shape: [2, 4], data: new Float32Array(8).fill(4000) },
    { name: 'd/bias', shape: [4], data: new Float32Array(4) },
  ]);
  t.deepEqual(listen(dense, x), [['Dense:d', 'before tanh', 8000]]);
  const split = artifactsOf(seq([{ class_name: 'Dense', config: { name: 'd', units: 4, batch_input_shape: [null, 2] } }, { class_name: 'Activation', config: { name: 'a', activation: 'tanh' } }]), [
    { name: 'd/kernel', shape: [2, 4], data: new Float32Array(8).fill(4000) },
    { name: 'd/bias', shape: [4], data: new Float32Array(4) },
  ]);
  t.deepEqual(listen(split, x), []);
  // SimpleRNN(2 units) over 3 steps of 2 features, kernel 4000, recurrent kernel 0.5: x W = 8000.
  const rnn = artifactsOf(seq([{ class_name: 'SimpleRNN', config: { name: 'r', units: 2, activation: 'tanh', use_bias: true, batch_input_shape: [null, 3, 2] } }]), [
    { name: 'r/kernel', shape: [2, 2], data: new Float32Array(4).fill(4000) },
    { name: 'r/recurrent_kernel', shape: [2, 2], data: new Float32Array(4).fill(0.5) },
    { name: 'r/bias', shape: [2], data: new Float32Array(2) },
  ]);
  const heard = listen(rnn, { data: new Float64Array(6).fill(1), shape: [1, 3, 2] });
  t.deepEqual(heard.map(([l, w]) => `${l} ${w}`), ['SimpleRNN:r gate inputs']);
  t.true(heard[0][2] >= 8000 && heard[0][2] <= 8001, `${heard[0][2]}`); // x W + h U, |h| <= 1
});

test("MultiHeadAttention's projections are heard, computed here from its weights", (t) => {
  const { a } = block();
  const specs = (a as unknown as { weightSpecs: { name: string; shape: number[] }[] }).weightSpecs;
  const all = new Float32Array(a.weightData as ArrayBuffer);
  const weights = new Map<string, Float32Array>();
  let at = 0;
  for (const w of specs) {
    const n = w.shape.reduce((p, q) => p * q, 1);
    weights.set(w.name, all.subarray(at, (at += n)));
  }
  const x = Float64Array.from({ length: 2 * MHA_T * D }, () => Math.random() * 4 - 2);
  let want = 0;
  for (const part of ['query', 'key', 'value']) {
    const k = weights.get(`mha/${part}/kernel`)!, b = weights.get(`mha/${part}/bias`)!;
    for (let r = 0; r < 2 * MHA_T; r++)
      for (let o = 0; o < H * KD; o++) {
        let acc = b[o];
        for (let d = 0; d < D; d++) acc += x[r * D + d] * k[d * H * KD + o];
        want = Math.max(want, Math.abs(acc));
      }
  }
  const got = listen(a, { data: x, shape: [2, MHA_T, D] }).find(([l, w]) => l === 'MultiHeadAttention:mha' && w === 'projections');
  t.truthy(got);
  t.true(Math.abs(got![2] - want) <= 1e-9 * want, `${got![2]} vs ${want}`);
});

test('verify warns of a fused tanh whose input nears the ring\'s limit though its output is within 1', async (t) => {
  const file = writeModel([{ class_name: 'Dense', config: { name: 'd', units: 4, activation: 'tanh', batch_input_shape: [null, 2] } }], [
    { name: 'd/kernel', shape: [2, 4], data: Float32Array.from({ length: 8 }, (_, i) => (i % 2 ? -4000 : 4000)) },
    { name: 'd/bias', shape: [4], data: new Float32Array(4) },
  ]);
  const c = new tfe.Cluster({ fixedPoint: { fracBits: F } }); // tanh as a layer's activation needs comparisons
  try {
    const r = await tfe.loadLayersModel(file, { cluster: c }).verify({ data: Float64Array.of(1, 1, 1, -1), shape: [2, 2] });
    const p = r.products.find((q) => q.layer === 'Dense:d (before tanh)');
    t.is(p?.plainMaxAbs, 8000);
    t.regex(r.warnings.join('\n'), /^Dense:d \(before tanh\): max \|value\| 8\.00e\+3 leaves 18\.0 bits/m);
  } finally {
    await c.close();
  }
});
