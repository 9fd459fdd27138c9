// fssBits is the owner's word on the model's values (docs/fss.md, "Narrower comparisons"): the
// comparisons of values the library makes must not be narrowed by it. SAME max pooling used to pad
// with -2^(45+f) (its edge windows then returned that at any fssBits below ~62); LayerNormalization
// compares the variance against thresholds up to 4^15 and softmax its row sums against 4^k, so a
// narrow fssBits gave wrong answers, silently, on small model values. Each is checked here at
// narrow widths on fresh random values in range, against plaintext.
import test from 'ava';

import * as tfe from '../lib';
import { activation } from '../lib/api/layers_activations';
import { layerNormOp } from '../lib/api/ops_norm';
import { eluErrorBound, geluErrorBound, mishErrorBound, sigmoidErrorBound, softplusErrorBound, swishErrorBound } from '../lib/api/ops_smooth';
import { FSS_STEPS } from '../lib/protocol/fss/steps';
import { softmaxErrorBound } from '../lib/api/ops_softmax';
import { newCluster } from './helpers/suites/harness';

const U = 2 ** -16;
const rounded = (v: number) => Math.round(v / U) * U;

async function run(opts: tfe.ClusterOptions, data: number[], shape: number[], f: (x: tfe.PrivateTensor) => tfe.AnyTensor): Promise<Float64Array> {
  const c = newCluster('fss', opts);
  try {
    const x = tfe.definePrivateInput('input-provider', () => ({ data, shape }), c);
    return (await tfe.defineOutput('output-receiver', f(x))).data;
  } finally {
    await c.close();
  }
}

/** Max pooling in plaintext, SAME as TensorFlow pads it (with -infinity). */
function maxPoolSame(x: number[], [h, w, ch]: number[], [kh, kw]: number[], [sh, sw]: number[]): number[] {
  const oh = Math.ceil(h / sh), ow = Math.ceil(w / sw);
  const top = Math.floor(Math.max((oh - 1) * sh + kh - h, 0) / 2), left = Math.floor(Math.max((ow - 1) * sw + kw - w, 0) / 2);
  const out: number[] = [];
  for (let i = 0; i < oh; i++)
    for (let j = 0; j < ow; j++)
      for (let c = 0; c < ch; c++) {
        let m = -Infinity;
        for (let di = 0; di < kh; di++)
          for (let dj = 0; dj < kw; dj++) {
            const y = i * sh - top + di, x2 = j * sw - left + dj;
            if (y >= 0 && y < h && x2 >= 0 && x2 < w) m = Math.max(m, x[(y * w + x2) * ch + c]);
          }
        out.push(m);
      }
  return out;
}

const GEOMETRIES: { shape: number[]; k: number[]; s: number[] }[] = [
  { shape: [3, 3, 1], k: [2, 2], s: [2, 2] },
  { shape: [5, 5, 2], k: [3, 3], s: [1, 1] },
  { shape: [5, 4, 2], k: [3, 2], s: [2, 3] },
  { shape: [1, 7, 3], k: [1, 4], s: [1, 2] },
];

for (const fssGate of ['one-round', 'compact'] as const)
  for (const fssBits of [32, 20])
    test(`${fssGate} gate, fssBits ${fssBits}: SAME max pooling takes each window's real maximum (all-negative and zero inputs too)`, async (t) => {
      const range = 2 ** (fssBits - 18); // differences stay below 2^(n-1) ring units
      for (const g of GEOMETRIES) {
        const n = g.shape.reduce((a, b) => a * b, 1);
        for (const data of [Array.from({ length: n }, () => rounded((Math.random() * 2 - 1) * range)), Array.from({ length: n }, () => -rounded(Math.random() * range) - U), new Array<number>(n).fill(0)]) {
          const got = await run({ fssGate, fssBits }, data, [1, ...g.shape], (x) => tfe.maxPool2d(x, { poolSize: g.k as [number, number], strides: g.s as [number, number], padding: 'SAME' }));
          t.deepEqual([...got], maxPoolSame(data, g.shape, g.k, g.s), `${JSON.stringify(g)} on ${data.slice(0, 4)}...`);
        }
      }
    });

test('fssBits 32: LayerNormalization of rows with values within +-2 matches plaintext', async (t) => {
  const width = 8, rows = 6;
  const data = Array.from({ length: rows * width }, () => rounded((Math.random() * 2 - 1) * 2));
  for (const fssGate of ['one-round', 'compact'] as const) {
    const got = await run({ fssGate, fssBits: 32 }, data, [rows, width], (x) => layerNormOp(x, { epsilon: 1e-3 }));
    for (let r = 0; r < rows; r++) {
      const row = data.slice(r * width, (r + 1) * width), mean = row.reduce((a, b) => a + b) / width;
      const sd = Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / width + 1e-3);
      const err = Math.max(...row.map((v, i) => Math.abs(got[r * width + i] - (v - mean) / sd)));
      t.true(err < 5e-3, `${fssGate}, row ${r}: max |private - plaintext| = ${err}`);
    }
  }
});

test('fssBits 20: softmax over rows of 256 values within +-2 matches plaintext', async (t) => {
  const n = 256, rows = 2;
  const data = Array.from({ length: rows * n }, () => rounded((Math.random() * 2 - 1) * 2));
  const got = await run({ fssBits: 20 }, data, [rows, n], (x) => tfe.softmax(x));
  for (let r = 0; r < rows; r++) {
    const row = data.slice(r * n, (r + 1) * n), m = Math.max(...row), e = row.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b);
    for (let i = 0; i < n; i++) {
      const want = e[i] / s;
      t.true(Math.abs(got[r * n + i] - want) <= softmaxErrorBound(n, want, 16), `row ${r}, ${i}: ${got[r * n + i]} against ${want}`);
    }
  }
});

// The smooth activations compare |x| less their knots (|x| - 10 is -10 at x = 0), and the clipping
// ones x less a constant (relu6's x - 6): values the library makes from x, which the owner's
// fssBits does not bound. At fssBits 20 (|value| < 8 at fracBits 16) on x within it, sigmoid(0)
// was -14.75 and relu6(-3) was 9; the control narrows those comparisons to the owner's width.
const SMOOTH: [string, (x: tfe.PrivateTensor) => tfe.AnyTensor, (v: number) => number, number][] = [
  ['sigmoid', (x) => tfe.sigmoid(x), (v) => 1 / (1 + Math.exp(-v)), sigmoidErrorBound(16)],
  ['swish', (x) => tfe.swish(x), (v) => v / (1 + Math.exp(-v)), swishErrorBound(16)],
  ['softplus', (x) => tfe.softplus(x), (v) => Math.log1p(Math.exp(v)), softplusErrorBound(16)],
  ['elu', (x) => tfe.elu(x), (v) => (v > 0 ? v : Math.expm1(v)), eluErrorBound(16)],
  ['gelu', (x) => tfe.gelu(x), (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)), geluErrorBound(16)],
  ['mish', (x) => tfe.mish(x), (v) => v * Math.tanh(Math.log1p(Math.exp(v))), mishErrorBound(16)],
];

/** erf to 1.5e-7 (Abramowitz and Stegun 7.1.26), enough against gelu's bound. */
function erf(v: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(v));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-v * v);
  return v >= 0 ? y : -y;
}

// Each at a width where some x in range puts a shifted comparison out of it: relu6's x - 6 and
// hard_tanh's x + 1 at fssBits 20 (|value| < 8), soft_shrink's -x - 0.5 too; hard_sigmoid's
// 0.2 x - 0.5 only at fssBits 16 (|value| < 0.5).
const CLIPS: [string, (v: number) => number, number][] = [
  ['relu6', (v) => Math.min(Math.max(v, 0), 6), 20],
  ['hard_sigmoid', (v) => Math.min(Math.max(0.2 * v + 0.5, 0), 1), 16],
  ['hard_tanh', (v) => Math.min(Math.max(v, -1), 1), 20],
  ['soft_shrink', (v) => (v > 0.5 ? v - 0.5 : v < -0.5 ? v + 0.5 : 0), 20],
];

/** x within the owner's range at fssBits n and fracBits 16 (|value| < 2^(n-17)): its edges, a few points and fresh random values. */
function inRange(n: number): number[] {
  const r = 2 ** (n - 17) * 0.99;
  return [0, r, -r, r / 2, -r / 2, r / 8, -r / 8, ...Array.from({ length: 25 }, () => rounded((Math.random() * 2 - 1) * r))].map(rounded);
}

/** The control: internal ops' gates at the owner's width, as every op's was before. */
function narrowInternal(): () => void {
  FSS_STEPS.internalWide = false;
  return () => void (FSS_STEPS.internalWide = true);
}

const activationNamed = (name: string) => activation({ class_name: 'Activation', config: {} } as unknown as Parameters<typeof activation>[0], name, { isOutput: false }).f!;

test.serial('fssBits 20 and 16: the smooth and clipping activations match plaintext on values within the owner\'s range; narrowed to it (the control), they do not', async (t) => {
  const wrongWhenNarrowed: string[] = [];
  for (const narrowed of [false, true]) {
    const restore = narrowed ? narrowInternal() : () => undefined;
    try {
      for (const [name, f, ref, bound] of SMOOTH) {
        const data = inRange(20);
        const got = await run({ fssBits: 20 }, data, [data.length], f);
        const err = Math.max(...data.map((v, i) => Math.abs(got[i] - ref(v))));
        if (!narrowed) t.true(err <= bound, `${name}: max |private - plaintext| = ${err} (bound ${bound})`);
        else if (err > bound) wrongWhenNarrowed.push(name);
      }
      for (const [name, ref, fssBits] of CLIPS) {
        const data = inRange(fssBits);
        const got = await run({ fssBits }, data, [data.length], activationNamed(name));
        // relu6, hard_tanh and soft_shrink are exact; hard_sigmoid's 0.2 x rounds once.
        const err = Math.max(...data.map((v, i) => Math.abs(got[i] - ref(v))));
        if (!narrowed) t.true(err <= 2 * U, `${name}: max |private - plaintext| = ${err}`);
        else if (err > 2 * U) wrongWhenNarrowed.push(name);
      }
    } finally {
      restore();
    }
  }
  t.deepEqual(wrongWhenNarrowed, [...SMOOTH.map((s) => s[0]), ...CLIPS.map((c) => c[0])], 'the control: each is wrong with its comparisons at the owner\'s width');
});
