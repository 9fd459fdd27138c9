// GELU written as primitive ops in a GraphModel (lib/api/graph_model_gelu.ts) translates into one
// private gelu, whatever form TensorFlow gave it; TensorFlow.js's own GraphModel executor is the
// reference (it has no Erfc: the erfc form is checked against the same weights in the erf form,
// the same function). A form whose constants are not GELU's is refused, not translated into it.
import test from 'ava';

import * as tfe from '../lib';
import { readLayersModel } from '../lib/api/model';
import { geluMlp, type GeluForm } from './helpers/graph_gelus';
import { reference } from './helpers/graph_models';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, k) => Math.max(m, Math.abs(v - b[k])), 0);

test('every form of GELU becomes one gelu: plaintext equals TensorFlow.js, privately within fixed point', async (t) => {
  const forms: GeluForm[] = ['erfc', 'erf', 'tanh-square', 'tanh-pow'];
  const { g, out } = geluMlp(forms);
  // The reference: the same weights with the erfc form written with Erf, which TensorFlow.js runs.
  const ref = geluMlp(['erf', 'erf', 'tanh-square', 'tanh-pow']);
  for (const c of ref.g.consts) {
    const same = g.consts.find((d) => d.name === c.name);
    if (same && c.name.startsWith('d')) c.data = same.data;
  }
  const { file } = g.save({ y: out }, { x: 'x' });
  const x = Float64Array.from({ length: 18 }, () => Math.random() * 4 - 2);
  const want = await reference(ref.g.save({ y: ref.out }, { x: 'x' }).artifacts, x, [3, 6]);
  const plain = tfe.loadPlainModel(file).predict({ data: x, shape: [3, 6] }) as { data: Float64Array };
  t.true(maxDiff(plain.data, want) < 1e-4, `plaintext ${[...plain.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
  // Four activations, the exact ones as gelu, the tanh ones as its approximation, and nothing else.
  const { json } = readLayersModel(file);
  const layers = (json.modelTopology as unknown as { config: { layers: { class_name: string; config: { activation?: string } }[] } }).config.layers;
  t.deepEqual(layers.filter((l) => l.class_name === 'Activation').map((l) => l.config.activation), ['gelu', 'gelu', 'gelu_new', 'gelu_new']);
  t.deepEqual([...new Set(layers.map((l) => l.class_name))].sort(), ['Activation', 'Dense', 'InputLayer']);
  for (const protocol of ['securenn', 'fss'] as const) {
    const c = new tfe.Cluster({ protocol });
    try {
      const m = tfe.loadLayersModel(file, { cluster: c });
      const y = await tfe.defineOutput('prediction-client', m.predict(tfe.definePrivateInput('prediction-client', () => ({ data: x, shape: [3, 6] }), c)));
      t.true(maxDiff(y.data, want) < 5e-3, `${protocol}: ${[...y.data].slice(0, 6)} vs tfjs ${[...want].slice(0, 6)}`);
    } finally {
      await c.close();
    }
  }
});

test('ops that only look like GELU (another constant inside) are refused, naming the special function', (t) => {
  for (const [form, op] of [['erf', 'Erf'], ['erfc', 'Erfc']] as const) {
    const { g, out } = geluMlp([form], [0.8]);
    t.throws(() => tfe.loadPlainModel(g.save({ y: out }, { x: 'x' }).file), { message: new RegExp(`GraphModel node 'gelu0/${op}' \\(${op}\\): this op is not supported`) });
  }
  // The tanh form with another constant is no GELU either; its parts translate one by one
  // (products, a tanh) and compute what the graph says.
  const { g, out } = geluMlp(['tanh-square'], [0.7]);
  const { file, artifacts } = g.save({ y: out }, { x: 'x' });
  const { json } = readLayersModel(file);
  const acts = (json.modelTopology as unknown as { config: { layers: { config: { activation?: string } }[] } }).config.layers.map((l) => l.config.activation);
  t.false(acts.some((a) => a?.startsWith('gelu')), `activations [${acts}]`);
  return reference(artifacts, Float64Array.from([0.5, -1, 1.5, 2, -0.3, 0.1]), [1, 6]).then((want) => {
    const got = tfe.loadPlainModel(file).predict({ data: Float64Array.from([0.5, -1, 1.5, 2, -0.3, 0.1]), shape: [1, 6] }) as { data: Float64Array };
    t.true(maxDiff(got.data, want) < 1e-5);
  });
});
