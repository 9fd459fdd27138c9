// Layer and RMS normalisations written as primitive ops in a GraphModel (lib/api/graph_model_norms.ts)
// translate into Keras's LayerNormalization and RMSNormalization, whatever form TensorFlow gave
// them; TensorFlow.js's own GraphModel executor is the reference. A form that only looks like one
// (the mean's coefficient not the value's, an intermediate value read elsewhere) is refused, not
// translated into a normalisation it is not.
import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { GraphBuilder, reference, T } from './helpers/graph_models';
import { kerasLayerNorm, normalized } from './helpers/graph_norms';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, k) => Math.max(m, Math.abs(v - b[k])), 0);

test('every form of a normalisation becomes its Keras layer: plaintext equals TensorFlow.js, privately within fixed point', async (t) => {
  const { g, out, layers } = normalized();
  const { file, artifacts } = g.save({ y: out }, { x: 'x' });
  const shape = [2, 4, 4, 3];
  const x = Float64Array.from({ length: 96 }, () => Math.random() * 2 - 1);
  const want = await reference(artifacts, x, shape);
  const plain = tfe.loadPlainModel(file).predict({ data: x, shape }) as { data: Float64Array };
  t.true(maxDiff(plain.data, want) < 1e-4, `plaintext ${[...plain.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
  // What the servers read: the Keras layers, no primitive op's trace (a Multiply of two values,
  // a pooling over channels), and every scale and shift a private weight, not a setting.
  const { json, spec } = readLayersModel(file);
  const classes = (json.modelTopology as unknown as { config: { layers: { class_name: string }[] } }).config.layers.map((l) => l.class_name);
  for (const [cls, count] of Object.entries(layers)) t.is(classes.filter((c) => c === cls).length, count, `${cls} in [${classes}]`);
  t.deepEqual(classes.filter((c) => !['InputLayer', 'Conv2D', 'LayerNormalization', 'RMSNormalization', 'Activation', 'Add'].includes(c)), [], 'nothing else');
  const topology = JSON.stringify(json.modelTopology);
  for (const v of g.consts.filter((c) => c.dtype === 'float32' && c.data.length > 1).flatMap((c) => c.data)) t.false(topology.includes(String(v)), `constant ${v} is in the topology`);
  t.true(spec.params.length >= 11, `${spec.params.length} private parameters`);
  for (const protocol of ['securenn', 'fss'] as const) {
    const c = new tfe.Cluster({ protocol });
    try {
      const m = tfe.loadLayersModel(file, { cluster: c });
      const y = await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape }), c)));
      t.true(maxDiff(y.data, want) < 2e-2, `${protocol}: ${[...y.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
    } finally {
      await c.close();
    }
  }
});

/** [-1, 5, 6] through `make`, saved: its file and artifacts. */
function sequence(make: (g: GraphBuilder, x: string) => string) {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 5, 6]);
  return g.save({ y: g.node('Identity', 'Identity', [make(g, x)], T) }, { x: 'x' });
}

test('a layer normalisation over another axis than the last is refused, naming it', (t) => {
  const { file } = sequence((g, x) => kerasLayerNorm(g, 'ln', x, 6, { axis: 1 }));
  t.throws(() => tfe.loadPlainModel(file), { message: /node 'ln\/add_2' \(_LayerNorm\): a layer normalisation \(found among primitive ops\) over axes \[1\] of a rank-3 value: only over the last axis/ });
});

test('ops that only look like a normalisation are refused, not translated into one', (t) => {
  // Control for the coefficients' check: x r g1 - m r g2 with g1 != g2 is no normalisation.
  const unequal = sequence((g, x) => {
    const m = g.node('f/mean', 'Mean', [x, g.constant('f/ax', [1], [-1], 'int32')], { ...T, keep_dims: { b: true } });
    const v = g.node('f/var', 'Mean', [g.node('f/sq', 'SquaredDifference', [x, m], T), g.constant('f/ax2', [1], [-1], 'int32')], { ...T, keep_dims: { b: true } });
    const r = g.node('f/rsqrt', 'Rsqrt', [g.node('f/add', 'AddV2', [v, g.constant('f/eps', [], [1e-3])], T)], T);
    const xr = g.node('f/xr', 'Mul', [g.node('f/xr0', 'Mul', [x, r], T), g.constant('f/g1', [6], [1, 2, 3, 4, 5, 6])], T);
    const mr = g.node('f/mr', 'Mul', [g.node('f/mr0', 'Mul', [m, r], T), g.constant('f/g2', [6], [1, 2, 3, 4, 5, 7])], T);
    return g.node('f/out', 'Sub', [xr, mr], T);
  });
  t.throws(() => tfe.loadPlainModel(unequal.file), { message: /GraphModel node 'f\/(mean|var)' \(Mean\): a mean over axes \[2\] of a rank-3 value is not supported: .*or over the last axis inside a layer or RMS normalisation whose steps/ });
  // The deviation also read outside the group: refused (a deviation alone has no private form).
  const shared = sequence((g, x) => {
    const ln = kerasLayerNorm(g, 'ln', x, 6);
    return g.node('extra', 'AddV2', [ln, g.node('extra/mul', 'Mul', [x, 'ln/Rsqrt'], T)], T);
  });
  t.throws(() => tfe.loadPlainModel(shared.file), { message: /GraphModel node 'ln\/moments\/(mean|variance)' \(Mean\): a mean over axes \[2\] of a rank-3 value is not supported/ });
  // The same group read only through its end translates.
  const { file } = sequence((g, x) => kerasLayerNorm(g, 'ln', x, 6));
  t.notThrows(() => tfe.loadPlainModel(file));
});

test('a normalisation read twice, through a scale and by a relu, becomes the layer and a scale after it', async (t) => {
  // Folding the scale into the normalisation would leave the unscaled value, also read, to ops that
  // do not translate: the group ends where its values are read only inside it.
  const { file, artifacts } = sequence((g, x) => {
    const ln = kerasLayerNorm(g, 'ln', x, 6);
    const scaled = g.node('ls/mul', 'Mul', [ln, g.random('ls/gamma', [6], 1)], T);
    return g.node('sum', 'AddV2', [g.node('relu', 'Relu', [ln], T), scaled], T);
  });
  const x = Float64Array.from({ length: 60 }, () => Math.random() * 2 - 1);
  const want = await reference(artifacts, x, [2, 5, 6]);
  const got = tfe.loadPlainModel(file).predict({ data: x, shape: [2, 5, 6] }) as { data: Float64Array };
  t.true(maxDiff(got.data, want) < 1e-4, `${[...got.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
});

test('a cycle around the ops a normalisation is read from ends in a clear error; a heavily shared graph after one is read at once', async (t) => {
  // A cycle of Identities before an Rsqrt, and one through an Add before an Erf: the walk names it.
  const { file } = sequence((g, x) => {
    const r = g.node('c/rsqrt', 'Rsqrt', [g.node('c/id1', 'Identity', ['c/id2'], T)], T);
    g.node('c/id2', 'Identity', ['c/id1'], T);
    const e = g.node('c/erf', 'Erf', [g.node('c/add', 'AddV2', [x, 'c/add'], T)], T);
    return g.node('c/out', 'AddV2', [g.node('c/m', 'Mul', [x, r], T), e], T);
  });
  t.throws(() => tfe.loadPlainModel(file), { message: /depends on itself \(a cycle\)/ });
  // Forty steps after a normalisation, each the sum of the value before with itself (halved):
  // read back from the last, 2^40 paths. The group ends where reading it stays cheap, and the
  // steps after it translate one by one.
  const t0 = Date.now();
  const deep = sequence((g, x) => {
    let v = kerasLayerNorm(g, 'ln', x, 6);
    for (let k = 0; k < 40; k++) v = g.node(`d/half${k}`, 'Mul', [g.node(`d/add${k}`, 'AddV2', [v, v], T), g.constant(`d/c${k}`, [], [0.5])], T);
    return v;
  });
  const xs = Float64Array.from({ length: 60 }, () => Math.random() * 2 - 1);
  const got = tfe.loadPlainModel(deep.file).predict({ data: xs, shape: [2, 5, 6] }) as { data: Float64Array };
  t.true(maxDiff(got.data, await reference(deep.artifacts, xs, [2, 5, 6])) < 1e-4);
  t.true(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
});
