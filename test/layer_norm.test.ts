// LayerNormalization under the exact protocols (lib/api/ops_norm.ts): rows whose spread differs by
// five orders of magnitude, against tfjs's own layer on fresh random inputs, and Pond's refusal.
import { createRequire } from 'node:module';

import test, { type ExecutionContext } from 'ava';

import * as tfe from '../lib';
import { layerNormOp } from '../lib/api/ops_norm';
import { saveTfjsModel } from './helpers/tfjs_save';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');

const WIDTH = 10;
/**
 * Row standard deviations from 0.02 to 20 000: the scale the comparisons pick spans 2^-6 .. 2^14.
 * At 20 000 a single square at scale 2^32 fails its local truncation with probability ~0.1 per
 * element (its value is ~2^60), so a variance taken that way is wrong in most runs.
 */
const SPREADS = [0.02, 0.3, 1, 4, 70, 2000, 20000];

/**
 * A LayerNormalization over rows of `width` with gamma and beta drawn from N(0, 1): Keras's
 * 'randomNormal' (stddev 0.05) would shrink every error twentyfold before the comparison.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function model(width = WIDTH): any {
  const normal = () => tf.initializers.randomNormal({ mean: 0, stddev: 1 });
  return tf.sequential({ layers: [tf.layers.layerNormalization({ inputShape: [width], epsilon: 1e-3, gammaInitializer: normal(), betaInitializer: normal() })] });
}

/**
 * A fresh LayerNormalization model run privately under `protocol` on `rows` rows of x, each row
 * within 5e-3 of tfjs's own output; `label(r)` says what row r is. The normalised values are O(1);
 * the inputs' rounding (2^-16) over the smallest spread (0.02) is 8e-4 of it, the fitted 1/sqrt
 * after two Newton steps far below.
 */
async function matchesTfjs(t: ExecutionContext, protocol: 'securenn' | 'fss', x: Float32Array, label: (r: number) => string, width = WIDTH): Promise<void> {
  const m = model(width);
  const file = await saveTfjsModel(tf, m, 'tfe-ln-');
  const rows = x.length / width;
  const want: number[][] = m.predict(tf.tensor(x, [rows, width])).arraySync();
  const c = new tfe.Cluster({ protocol });
  try {
    const lm = tfe.loadLayersModel(file, { cluster: c });
    const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [rows, width] }), c);
    const out = await tfe.defineOutput('prediction-client', lm.predict(input));
    for (let r = 0; r < rows; r++) {
      const got = Array.from(out.data.subarray(r * width, (r + 1) * width));
      const err = Math.max(...got.map((g, i) => Math.abs(g - want[r][i])));
      t.true(err < 5e-3, `row ${r} (${label(r)}): max |private - tfjs| = ${err}`);
    }
  } finally {
    await c.close();
  }
}

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: LayerNormalization matches tfjs on rows whose spread ranges from 0.02 to 20 000`, async (t) => {
    const x = Float32Array.from({ length: SPREADS.length * 2 * WIDTH }, (_, i) => {
      const r = Math.floor(i / WIDTH), spread = SPREADS[r % SPREADS.length];
      return (r < SPREADS.length ? 0 : 50 * (Math.random() * 2 - 1)) + spread * (Math.random() * 2 - 1) * Math.sqrt(3);
    });
    await matchesTfjs(t, protocol, x, (r) => `spread ${SPREADS[r % SPREADS.length]}`);
  });

/**
 * Rows whose variance sits within 5% of a threshold 4^k, where the comparisons decide between two
 * scales: from 4^2 up they read the coarse estimate (resolution 0.25 in the variance), which can
 * decide either way there, so the scaled variance must be right on both sides.
 */
const NEAR_THRESHOLDS = [-4, -3, 0, 1, 2, 3, 5, 9, 14].flatMap((k) => [-0.05, -0.01, -0.003, 0, 0.003, 0.01, 0.05].map((r) => 4 ** k * (1 + r)));

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: LayerNormalization is right on rows whose variance is within 5% of a power of four, where the scale changes`, async (t) => {
    // c + sigma, c - sigma, ... : the variance is sigma^2 exactly, the mean c an offset.
    const x = Float32Array.from({ length: NEAR_THRESHOLDS.length * WIDTH }, (_, i) => {
      const r = Math.floor(i / WIDTH), sigma = Math.sqrt(NEAR_THRESHOLDS[r] - 1e-3);
      return ((r * 7) % 11) - 5 + (i % 2 ? sigma : -sigma);
    });
    await matchesTfjs(t, protocol, x, (r) => `variance + epsilon ${NEAR_THRESHOLDS[r]}`);
  });

/**
 * Rows of 768 (a transformer's width) whose mean is a thousand times their spread: 1/768 in fixed
 * point is off by 0.4%, and a mean taken with it is off by 0.4% of the offset, many times the
 * spread; the row is centred in integers instead (n x - sum x), so only the inputs' rounding is
 * left.
 */
for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: LayerNormalization matches tfjs on rows of 768 whose offset is a thousand times their spread`, async (t) => {
    const W = 768, spreads = [0.05, 0.3, 2, 40];
    const x = Float32Array.from({ length: spreads.length * W }, (_, i) => {
      const r = Math.floor(i / W);
      return (r % 2 ? -1000 : 1000) * spreads[r] + spreads[r] * (Math.random() * 2 - 1) * Math.sqrt(3);
    });
    await matchesTfjs(t, protocol, x, (r) => `spread ${spreads[r]}, offset ${1000 * spreads[r]}`, W);
  });

/** Constant rows: centred in integers, d is exactly 0, so the output is beta (tfjs: 0 / sqrt(epsilon)). */
for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: LayerNormalization gives beta on rows of equal values`, async (t) => {
    const values = [0, 5, -1000, 0.3, 40000];
    const x = Float32Array.from({ length: values.length * WIDTH }, (_, i) => values[Math.floor(i / WIDTH)]);
    await matchesTfjs(t, protocol, x, (r) => `every value ${values[r]}`);
  });

/**
 * A transformer's epsilon (1e-6; BERT's 1e-12) on rows of small spread: var + epsilon reaches
 * 1e-6 and below, under the default's range of scales (4^-7 = 6.1e-5), which clamped it and put the
 * output off by up to 1. The reference is float64 on the float32 inputs; the bound is the inputs'
 * rounding (2^-17 each, and the centred values' 2^-17 again) over sqrt(var + epsilon), five times
 * over, plus 1e-3: about 0.04 at a spread of 1e-3, where the clamp was off by 1.
 */
for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: LayerNormalization with epsilon 1e-6 or 1e-12 is right on rows whose spread is 1e-3 to 1e-2`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      for (const [width, epsilon] of [[64, 1e-6], [768, 1e-12]]) {
        const spreads = [1e-3, 3e-3, 1e-2, 3e-2];
        const offsets = spreads.map(() => 2 * Math.random() - 1);
        const x = Float32Array.from({ length: spreads.length * width }, (_, i) => offsets[Math.floor(i / width)] + spreads[Math.floor(i / width)] * (Math.random() * 2 - 1) * Math.sqrt(3));
        const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [spreads.length, width] }), c);
        const out = await tfe.defineOutput('prediction-client', layerNormOp(input, { epsilon }));
        for (let r = 0; r < spreads.length; r++) {
          const row = Array.from(x.subarray(r * width, (r + 1) * width));
          const mean = row.reduce((a, b) => a + b) / width, variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / width;
          const bound = (5 * 2 ** -16) / Math.sqrt(variance + epsilon) + 1e-3;
          const err = Math.max(...row.map((v, i) => Math.abs(out.data[r * width + i] - (v - mean) / Math.sqrt(variance + epsilon))));
          t.true(err < bound, `rows of ${width}, epsilon ${epsilon}, spread ${spreads[r]}: max |private - float64| = ${err} (bound ${bound})`);
        }
      }
    } finally {
      await c.close();
    }
  });

/**
 * The centred row's own rounding: d~ = (n x - sum x) / 2^p is rounded once more, at 2^-f / a of
 * the row's values for a = n / 2^p (near 1/2 for rows just above a power of two: 17, 65). It
 * keeps two bits beyond f, so the error stays within about twice the inputs' rounding alone (the
 * float64 answer on the inputs rounded to 2^-16), where it was up to four times (a walkthrough's
 * finding: rows of 65 at spread 1e-3, epsilon 1e-6).
 */
for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: LayerNormalization rows just above a power of two in length are within 2.5 times the inputs' own rounding`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      for (const width of [17, 65]) {
        const rows = 40, eps = 1e-6;
        const x = Float32Array.from({ length: rows * width }, () => 0.3 + 1e-3 * Math.sqrt(3) * (Math.random() * 2 - 1));
        const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [rows, width] }), c);
        const out = await tfe.defineOutput('prediction-client', layerNormOp(input, { epsilon: eps }));
        const norm = (row: ArrayLike<number>) => {
          const v = Array.from(row), m = v.reduce((a, b) => a + b) / width, s = v.reduce((a, b) => a + (b - m) ** 2, 0) / width;
          return v.map((e) => (e - m) / Math.sqrt(s + eps));
        };
        let err = 0, floor = 0;
        for (let r = 0; r < rows; r++) {
          const row = x.subarray(r * width, (r + 1) * width), want = norm(row), rounded = norm(Array.from(row, (v) => Math.round(v * 2 ** 16) / 2 ** 16));
          for (let i = 0; i < width; i++) (err = Math.max(err, Math.abs(out.data[r * width + i] - want[i]))), (floor = Math.max(floor, Math.abs(rounded[i] - want[i])));
        }
        t.true(err < 2.5 * floor, `rows of ${width}: max |private - float64| = ${err}, the inputs' rounding alone ${floor} (${(err / floor).toFixed(2)} times)`);
      }
    } finally {
      await c.close();
    }
  });

test('LayerNormalization refuses rows wider than 65535 values where the model is loaded (naming the layer and the width), and an epsilon too large for its rows', async (t) => {
  const file = await saveTfjsModel(tf, model(65536), 'tfe-ln-');
  const c = new tfe.Cluster({ protocol: 'securenn' });
  try {
    t.throws(() => tfe.loadLayersModel(file, { cluster: c }), { message: /loadLayersModel: the model cannot run: layer '.*' \(LayerNormalization\): rows of 65536 values are wider than the 65535 supported/ });
    t.throws(() => tfe.loadPlainModel(file), { message: /rows of 65536 values are wider than the 65535 supported/ });
    const x = tfe.definePrivateInput('prediction-client', () => ({ data: new Float32Array(65536), shape: [1, 65536] }), c);
    t.throws(() => layerNormOp(x, { epsilon: 1e-3 }), { message: /rows of 65536 values are not supported \(1 to 65535\)/ });
    const narrow = tfe.definePrivateInput('prediction-client', () => ({ data: new Float32Array(8), shape: [1, 8] }), c);
    t.throws(() => layerNormOp(narrow, { epsilon: 1e6 }), { message: /LayerNormalization: epsilon 1000000 is too large for rows of 8 values \(at most 8\.19e\+3\)/ });
  } finally {
    await c.close();
  }
});

/**
 * Rows of 4096 values and more (a GroupNormalization over an image's positions): the fine
 * estimate's thresholds stop lower there (its exact range), and the coarse one, at 3 to 4
 * fractional bits, decides from 4^2 or 4^3 up. Variances near those thresholds and far from them,
 * against float64 on the float32 inputs.
 */
for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: LayerNormalization is right on rows of 16384 and 65535 values, where the coarse estimate takes over lower`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      for (const width of [16384, 65535]) {
        // (About these variances: uniform values, sqrt(3 v) wide.) Not larger: the scaling of
        // n (x - mean) by 2^-p fails with probability about n |d| 2^-47 per element (docs/models.md),
        // 5% for a row of 65535 values of spread 1000; the rows of 768 and 10 above reach 20000.
        const variances = width > 16384 ? [1e-4, 1e-2, 0.3, 1] : [1e-4, 1e-2, 0.3, 1, 15.9, 16.1, 63.5, 64.5, 255, 257];
        // And rows of +-c alone, c just short of where a coarse rounding (1/8, 1/16) would round it
        // up or down: a coarse estimate where the fine one belongs would make their variance 0 or
        // far larger.
        const flat = width > 16384 ? [0.0624, 0.1874] : [0.0624, 0.1874, 3.9374, 8.0624];
        const x = Float32Array.from({ length: (variances.length + flat.length) * width }, (_, i) => {
          const r = Math.floor(i / width);
          if (r >= variances.length) return (i % 2 ? 1 : -1) * flat[r - variances.length];
          return ((r * 7) % 11) - 5 + (Math.random() * 2 - 1) * Math.sqrt(3 * variances[r]);
        });
        const rows = variances.length + flat.length;
        const input = tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [rows, width] }), c);
        const out = await tfe.defineOutput('prediction-client', layerNormOp(input, { epsilon: 1e-3 }));
        for (let r = 0; r < rows; r++) {
          const row = x.subarray(r * width, (r + 1) * width);
          let mean = 0, sq = 0;
          for (const v of row) mean += v / width;
          for (const v of row) sq += (v - mean) ** 2 / width;
          let err = 0;
          for (let i = 0; i < width; i++) err = Math.max(err, Math.abs(out.data[r * width + i] - (row[i] - mean) / Math.sqrt(sq + 1e-3)));
          t.true(err < 5e-3, `rows of ${width}, ${r < variances.length ? `variance ${variances[r]}` : `+-${flat[r - variances.length]}`}: max |private - float64| = ${err}`);
        }
      }
    } finally {
      await c.close();
    }
  });

test('Pond refuses a LayerNormalization model at load time, naming the layer', async (t) => {
  const file = await saveTfjsModel(tf, model(), 'tfe-ln-');
  const c = new tfe.Cluster({ protocol: 'pond' });
  try {
    t.throws(() => tfe.loadLayersModel(file, { cluster: c }), { message: /compares values \(.*LayerNormalization.*\).*use an exact protocol/ });
  } finally {
    await c.close();
  }
});

test("the plain float64 forward (loadPlainModel, verify's reference) matches tfjs's LayerNormalization", async (t) => {
  const m = model();
  const file = await saveTfjsModel(tf, m, 'tfe-ln-');
  const x = Float32Array.from({ length: 6 * WIDTH }, (_, i) => SPREADS[Math.floor(i / WIDTH)] * (Math.random() * 2 - 1));
  const want: number[] = m.predict(tf.tensor(x, [6, WIDTH])).arraySync().flat();
  const got = tfe.loadPlainModel(file).predict({ data: Float64Array.from(x), shape: [6, WIDTH] });
  const err = Math.max(...Array.from(got.data, (g, i) => Math.abs(g - want[i])));
  t.true(err < 1e-4, `max |plain - tfjs| = ${err}`);
});
