// Keras's MultiHeadAttention written as primitive ops in a GraphModel (lib/api/graph_model_attention.ts)
// becomes Keras's layer: its projections, scaled scores, softmax and output projection read for
// what they compute (the equations by what they contract, not their letters); TensorFlow.js's own
// GraphModel executor is the reference. A group that differs (another scale, the softmax's weights
// also read) is refused, not translated into the layer.
import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { attentionGraph, type AttentionOptions } from './helpers/graph_attention';
import { reference } from './helpers/graph_models';

const maxDiff = (a: ArrayLike<number>, c: ArrayLike<number>) => Array.from(a).reduce((m, v, k) => Math.max(m, Math.abs(v - c[k])), 0);

for (const [what, o] of [
  ['as Keras 3.15 writes it', {}],
  ['the query scaled before the scores, other letters in the equations', { scaleQuery: true, equations: ['abcd,aecd->acbe', 'acbe,aecd->abcd'] }],
  ['without biases', { bias: false }],
] as [string, AttentionOptions][])
  test(`multi-head attention ${what}: one MultiHeadAttention layer, plaintext equals TensorFlow.js, privately within fixed point`, async (t) => {
    const { g, out } = attentionGraph(o);
    const { file, artifacts } = g.save({ y: out }, { x: 'x' });
    const x = Float64Array.from({ length: 48 }, () => Math.random() * 2 - 1);
    const want = await reference(artifacts, x, [2, 4, 6]);
    const plain = tfe.loadPlainModel(file).predict({ data: x, shape: [2, 4, 6] }) as { data: Float64Array };
    t.true(maxDiff(plain.data, want) < 1e-5, `plaintext ${[...plain.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
    const { json } = readLayersModel(file);
    const classes = (json.modelTopology as unknown as { config: { layers: { class_name: string }[] } }).config.layers.map((l) => l.class_name);
    t.deepEqual(classes, ['InputLayer', 'MultiHeadAttention']);
    for (const protocol of ['securenn', 'fss'] as const) {
      const c = new tfe.Cluster({ protocol });
      try {
        const m = tfe.loadLayersModel(file, { cluster: c });
        const y = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [2, 4, 6] }))));
        t.true(maxDiff(y.data, want) < 5e-3, `${protocol}: ${[...y.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
      } finally {
        await c.close();
      }
    }
  });

test('ops that only look like multi-head attention are refused, naming an Einsum', (t) => {

  const refused = (o: AttentionOptions) => {
    const { g, out } = attentionGraph(o);
    t.throws(() => tfe.loadPlainModel(g.save({ y: out }, { x: 'x' }).file), { message: /GraphModel node 'mha\/einsum(_1)?\/Einsum' \(Einsum\): this op is not supported on its own: only inside a MultiHeadAttention as Keras 3 writes it/ });
  };
  // Keras's layer scales by 1/sqrt(key_dim): another scale is another computation.
  refused({ scale: 0.5 });
  // The softmax's weights also read by the output: replacing the group would leave them to ops that do not translate.
  refused({ weightsOut: true });
  // Scores transposed ([B, N, Tk, Tq]: the softmax over the queries), and a combination over the wrong axis.
  refused({ equations: ['BTNH,BSNH->BNST', 'BNST,BSNH->BTNH'] });
  refused({ equations: ['BTNH,BSNH->BNTS', 'BNTS,BTNH->BSNH'] });
  // Scores that sum over the heads instead of each head's width.
  refused({ equations: ['BTNH,BSNH->BHTS', 'BNTS,BSNH->BTNH'] });
});

// (TensorFlow.js's executor runs this mask as all true: its Fill of a bool gives floats. The
// values are checked against Keras's own predict instead: graph_model_keras's causal fixture.)
test("Keras's causal mask on the scores is the layer's use_causal_mask; another band is refused", (t) => {
  const { g, out } = attentionGraph({ band: [-1, 0] });
  const { file } = g.save({ y: out }, { x: 'x' });
  const layers = (readLayersModel(file).json.modelTopology as unknown as { config: { layers: { class_name: string; inbound_nodes: unknown[][][] }[] } }).config.layers;
  t.deepEqual(layers.map((l) => l.class_name), ['InputLayer', 'MultiHeadAttention']);
  t.deepEqual(layers[1].inbound_nodes[0][0][3], { use_causal_mask: true });
  // Without the mask the same weights answer otherwise: the call argument is what makes it causal.
  const plain = attentionGraph({});
  for (const c of plain.g.consts) c.data = g.consts.find((d) => d.name === c.name)?.data ?? c.data;
  const x = Float64Array.from({ length: 48 }, () => Math.random() * 2 - 1);
  const [masked, open] = [file, plain.g.save({ y: plain.out }, { x: 'x' }).file].map((f) => (tfe.loadPlainModel(f).predict({ data: x, shape: [2, 4, 6] }) as { data: Float64Array }).data);
  t.true(maxDiff(masked, open) > 1e-3);
  // A query's last step sees every key either way: its rows agree.
  for (const r of [0, 1]) t.true(maxDiff(masked.subarray(r * 24 + 18, r * 24 + 24), open.subarray(r * 24 + 18, r * 24 + 24)) < 1e-12);
  // The upper triangle, or every key: not Keras's causal mask, so not this layer.
  for (const band of [[0, -1], [-1, -1]] as [number, number][]) {
    const other = attentionGraph({ band });
    t.throws(() => tfe.loadPlainModel(other.g.save({ y: other.out }, { x: 'x' }).file), { message: /\(Einsum\): this op is not supported on its own/ }, `band [${band}]`);
  }
});
