// Keras's Attention layer (dot scores) in a GraphModel (lib/api/graph_model_dot_attention.ts):
// two BatchMatMulV2 around a Softmax, the scale and the padding mask as Keras 3.15 writes them,
// become the layer. Keras's own predictions on the fixtures are checked in graph_model_keras;
// here, what they become, and altered groups refused, naming the product.
import test from 'ava';

import * as tfe from '../lib';
import { fixtureArtifacts as artifacts, type FixtureNode as Node, translatedLayers } from './helpers/graph_fixtures';

const attentionOf = (a: tfe.ModelArtifacts) => translatedLayers(a).find((l) => l.class_name === 'Attention');

test("Keras's Attention becomes the layer: its scale a weight, the padding mask named in its call", (t) => {
  const scaled = attentionOf(artifacts('dot_attention'));
  t.like(scaled?.config, { use_scale: true, score_mode: 'dot' });
  const masked = attentionOf(artifacts('padded_dot_attention'));
  t.like(masked?.config, { use_scale: false });
  t.deepEqual(masked?.inbound_nodes[0][0][3], { mask: { class_name: '__tfe_padding_mask__', config: { source: 'input' } } });
});

test('dot-product attention that is not Keras\'s layer is refused, naming its product', (t) => {
  // (Where the group is not matched, the walk meets the mask's NotEqual first: refused as a read of the ids.)
  const maskRead = /\(NotEqual\): reads token ids .* their padding mask \(NotEqual\(ids, 0\)\) only as Keras applies it/;
  const product = /\(BatchMatMulV2\): a product of two computed values is supported only inside an attention/;
  const refused = (name: string, edit: (nodes: Node[]) => void, why: string, message = product) => t.throws(() => tfe.loadPlainModel(artifacts(name, edit)), { message }, why);
  // The keys' mask without the queries' (the padded steps' outputs not zeroed).
  refused('padded_dot_attention', (nodes) => {
    const sel = nodes.find((n) => n.op === 'SelectV2' && /attention/.test(n.name) && (n.input ?? []).some((r) => /MatMul_1$/.test(r)))!;
    Object.assign(sel, { op: 'Identity', input: [(sel.input ?? [])[1]], attr: {} });
  }, 'no query mask', maskRead);
  // The keys' scores lowered by 10 only (not masked out).
  refused('padded_dot_attention', (nodes) => {
    const sub = nodes.find((n) => n.op === 'Sub' && /attention/.test(n.name))!;
    nodes.push({ name: 'ten', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: {}, floatVal: [10] } } } });
    sub.input = [(sub.input ?? [])[0], 'ten'];
  }, 'lowered by 10', maskRead);
  // The scores scaled by a computed value, not a constant.
  refused('dot_attention', (nodes) => {
    const mul = nodes.find((n) => n.op === 'Mul' && /attention/.test(n.name))!;
    mul.input = [(mul.input ?? [])[0], (mul.input ?? [])[0]];
  }, 'scores squared');
});
