// Keras's Discretization (lib/api/layers_discretization.ts), beyond its Keras 3 models' predictions
// (test/keras3_saved_models.test.ts on keras3_more_layer_models.json, dz*): fresh random
// boundaries and inputs against a digitize written here, every output mode, under both exact
// protocols; the boundaries become private weights before anything reads the topology; Pond and
// bad settings refused by name; a structured-data model over the service.
import { randomInt } from 'node:crypto';

import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { manifestShapes, parseTopology } from '../lib/api/layers_spec';
import { estimateQueryBytes } from '../lib/serve/limits';
import { answersAsKeras, FIXTURES } from './helpers/more_layer_models';
import { oneLayerModel } from './helpers/one_layer_model';

type Mode = 'int' | 'one_hot' | 'multi_hot' | 'count';

/** A model of one Discretization (named 'bins') reading an input of `shape` (batch left out). */
const discretizer = (config: Record<string, unknown>, shape: number[]) => oneLayerModel('Discretization', { num_bins: null, epsilon: 0.01, output_mode: 'int', sparse: false, ...config }, shape, { name: 'bins' });

/** NumPy's digitize and Keras's encodings, written apart from the library's. */
function reference(x: number[], rows: number, b: number[], mode: Mode): number[] {
  const bin = (v: number) => b.filter((t) => v >= t).length, bins = b.length + 1, k = x.length / rows;
  if (mode === 'int') return x.map(bin);
  if (mode === 'one_hot') return x.flatMap((v) => Array.from({ length: bins }, (_, j) => (bin(v) === j ? 1 : 0)));
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const counts = new Array(bins).fill(0);
    for (const v of x.slice(r * k, r * k + k)) counts[bin(v)]++;
    out.push(...counts.map((c) => (mode === 'count' ? c : Math.min(c, 1))));
  }
  return out;
}

/** Sorted boundaries, some on the fixed-point grid (whole and half numbers), some off it, some equal. */
function boundaries(n: number): number[] {
  const b = Array.from({ length: n }, () => (randomInt(3) === 0 ? randomInt(-8, 8) / 2 : Math.fround((Math.random() - 0.5) * 8)));
  if (n > 2) b[1] = b[0];
  return b.sort((p, q) => p - q);
}

/** Inputs: the boundaries themselves, a grid step either side of the grid ones, values beyond every bin, and random ones. */
function inputs(b: number[], size: number): number[] {
  const near = b.flatMap((t) => (Number.isInteger(t * 2) ? [t, t - 2 ** -16, t + 2 ** -16] : [t]));
  const pool = [...near, -1e3, 1e3];
  // A random value within a grid step of a boundary it does not equal falls where its rounding
  // puts it (docs/models.md): drawn again.
  const far = () => {
    for (;;) {
      const v = Math.fround((Math.random() - 0.5) * 10);
      if (b.every((t) => Math.abs(v - t) > 2 ** -15)) return v;
    }
  };
  return Array.from({ length: size }, (_, i) => (i < pool.length ? pool[i] : randomInt(2) ? pool[randomInt(pool.length)] : far()));
}

for (const protocol of ['securenn', 'fss'] as const)
  test(`${protocol}: every output mode on fresh random boundaries and inputs, as digitize`, async (t) => {
    const c = new tfe.Cluster({ protocol });
    try {
      for (const [mode, shape] of [['int', [3, 2]], ['one_hot', [1]], ['one_hot', [4]], ['count', [5]], ['multi_hot', [5]], ['multi_hot', [1]]] as [Mode, number[]][]) {
        const b = boundaries(randomInt(1, 6)), rows = 6, size = rows * shape.reduce((p, q) => p * q, 1);
        const x = inputs(b, size);
        const m = tfe.loadLayersModel(discretizer({ bin_boundaries: b, output_mode: mode }, shape), { cluster: c });
        const out = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: Float64Array.from(x), shape: [rows, ...shape] }))));
        const want = reference(x, rows, b, mode);
        t.is(out.data.length, want.length, `${mode} [${shape}]`);
        const bad = want.findIndex((v, i) => Math.abs(out.data[i] - v) > 1e-9);
        t.is(bad, -1, `${mode} [${shape}], boundaries [${b}]: at ${bad} got ${out.data[bad]}, digitize gives ${want[bad]}`);
      }
    } finally {
      await c.close();
    }
  });

test('the boundaries become private weights: the topology a deploy sends holds none, and the servers refuse one that does', (t) => {
  const b = [-1.234567, 0.5, 2.718281];
  const a = discretizer({ bin_boundaries: b, output_mode: 'one_hot' }, [1]);
  const before = JSON.stringify(a.modelTopology);
  const { json, weights } = readLayersModel(a);
  const sent = JSON.stringify(json.modelTopology);
  for (const v of b) t.false(sent.includes(String(v)), `${v} is in the topology`);
  const bins = (json.modelTopology as unknown as { config: { layers: { config: Record<string, unknown> }[] } }).config.layers[1].config;
  t.is(bins.bin_boundaries, null);
  t.is(bins.num_bins, 4, 'their count stays public (the output width)');
  t.deepEqual(Array.from(weights.get('bins/bin_boundaries')!.data), Array.from(Float32Array.from(b)));
  t.is(JSON.stringify(a.modelTopology), before, "the caller's artifacts are unchanged");
  t.throws(() => parseTopology(a.modelTopology as never, () => undefined, []), { message: /layer 'bins' \(Discretization\): bin_boundaries given in its config would travel in the topology every server reads/ });
  const shapes = manifestShapes(json);
  t.notThrows(() => parseTopology(json.modelTopology, (n) => shapes.get(n), [...shapes.keys()]));
});

test('Discretization: Pond, bad boundaries and settings refused by name', (t) => {
  const pond = new tfe.Cluster({ protocol: 'pond' });
  try {
    t.throws(() => tfe.loadLayersModel(discretizer({ bin_boundaries: [0, 1] }, [2]), { cluster: pond }), { message: /Discretization.*(exact protocol|securenn)/ });
  } finally {
    void pond.close();
  }
  const refused = (config: Record<string, unknown>, message: RegExp, shape = [2]) => t.throws(() => tfe.loadPlainModel(discretizer(config, shape)).forward({ data: new Float64Array(3 * shape.reduce((p, q) => p * q, 1)), shape: [3, ...shape] }), { message });
  refused({ bin_boundaries: [1, 0.5] }, /\(Discretization\): bin_boundaries\[1\] = 0.5 is below bin_boundaries\[0\] = 1: the boundaries must be in increasing order/);
  refused({ bin_boundaries: [0, 1], num_bins: 5 }, /\(Discretization\): num_bins = 5 does not match its 2 bin_boundaries/);
  refused({ bin_boundaries: [0, 'a'] }, /\(Discretization\): bin_boundaries = .* is not a number or a list/);
  refused({ bin_boundaries: [0, null] }, /\(Discretization\): bin_boundaries = .* is not a number or a list/);
  refused({ bin_boundaries: null, num_bins: 4 }, /\(Discretization\): has no bin boundaries \(none in its config, no weight 'bins\/bin_boundaries'\): adapt\(\) it/);
  refused({ bin_boundaries: [0], output_mode: 'tf_idf' }, /\(Discretization\): output_mode = "tf_idf"/);
  refused({ bin_boundaries: [0], sparse: true }, /\(Discretization\): sparse = true is not supported/);
  refused({ bin_boundaries: [0], output_mode: 'count' }, /\(Discretization\): output_mode = 'count' takes inputs of shape \[batch\] or \[batch, k\], as Keras does, got \[1,2,2\]/, [2, 2]);
});

test('over the service: a structured-data model (an age cut into bins beside numbers) answers as Keras, its boundaries shared as weights', (t) => answersAsKeras(t, FIXTURES.dz1_bucketized_age, 'bins'));

test("the per-query memory estimate counts a Discretization's comparisons: one per value and boundary", (t) => {
  const topo = (bins: number, mode: Mode) => ({ class_name: 'Sequential', config: { layers: [{ class_name: 'Discretization', config: { name: 'd', batch_input_shape: [null, 64], num_bins: bins, bin_boundaries: null, output_mode: mode } }] } });
  const est = (bins: number, mode: Mode) => estimateQueryBytes({ topology: topo(bins, mode) as never, protocol: 'fss', inputShape: [64] }, 1);
  for (const mode of ['int', 'one_hot', 'count', 'multi_hot'] as const) {
    // 64 values against 199 boundaries more: at least a dealt comparison key's 64-bit word each.
    t.true(est(200, mode) - est(2, mode) >= 8 * 64 * 198, `${mode}: ${est(200, mode)} vs ${est(2, mode)}`);
  }
});
