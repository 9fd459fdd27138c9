// Recurrent layers with unroll=True in a GraphModel (lib/api/graph_model_unrolled.ts): the steps
// written out, each step's cell read and all of them found the same, become the Keras layer.
// Keras 3.15's own predictions on the fixtures (graph_models/unrolled_gen.py) are checked in
// graph_model_keras.test.ts; here, what each becomes, and chains that differ from one Keras
// layer left as they are, refused naming an op, rather than translated.
import test from 'ava';

import * as tfe from '../lib';
import { fixtureArtifacts, type FixtureNode as Node, translatedLayers as layersOf } from './helpers/graph_fixtures';

const FILE = 'unrolled_graph_models.json';
const artifacts = (name: string, edit?: (nodes: Node[]) => void) => fixtureArtifacts(name, edit, FILE);
const summary = (a: tfe.ModelArtifacts) =>
  layersOf(a)
    .filter((l) => /LSTM|GRU|RNN/.test(l.class_name))
    .map((l) => [l.class_name, ...['units', 'return_sequences', 'go_backwards', 'reset_after'].filter((k) => l.config[k] !== undefined && (k !== 'go_backwards' || l.config[k])).map((k) => `${k}=${String(l.config[k])}`)].join(' '));

test('each unrolled layer becomes its Keras layer: an LSTM (its last h, or every step), a GRU, a GRU into a SimpleRNN, and going backwards', (t) => {
  t.deepEqual(summary(artifacts('unrolled_lstm')), ['LSTM units=3 return_sequences=false']);
  t.deepEqual(summary(artifacts('unrolled_lstm_sequences')), ['LSTM units=3 return_sequences=true']);
  t.deepEqual(summary(artifacts('unrolled_gru')), ['GRU units=4 return_sequences=false reset_after=true']);
  t.deepEqual(summary(artifacts('unrolled_gru_into_simple_rnn')), ['GRU units=4 return_sequences=true reset_after=true', 'SimpleRNN units=3 return_sequences=false']);
  t.deepEqual(summary(artifacts('unrolled_lstm_backwards')), ['LSTM units=3 return_sequences=false go_backwards=true']);
  t.deepEqual(summary(artifacts('unrolled_gru_backwards_sequences')), ['GRU units=3 return_sequences=true go_backwards=true reset_after=true']);
});

test('steps that are not one Keras layer are refused, naming an op: a step of another activation, another first state, another kernel', (t) => {
  const refused = (name: string, edit: (nodes: Node[]) => void, why: string) => t.throws(() => tfe.loadPlainModel(artifacts(name, edit)), { message: /GraphModel node '.*' \(Unpack\): this op unstacks the steps of a sequence, as a recurrent layer with unroll=True does; .* this one differs/ }, why);
  // The third step's cell activation a relu (the others tanh).
  refused('unrolled_lstm', (nodes) => (nodes.filter((n) => n.op === 'Tanh')[5].op = 'Relu'), 'one step of another activation');
  // The first state ones, not zeros.
  refused('unrolled_gru', (nodes) => {
    const fill = nodes.find((n) => n.op === 'Fill')!;
    nodes.push({ name: 'one', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: {}, floatVal: [1] } } } });
    fill.input = [(fill.input ?? [])[0], 'one'];
  }, 'a first state of ones');
  // The last step's recurrent kernel another constant (the same shape, other values).
  refused('unrolled_lstm', (nodes) => {
    const recurrent = nodes.filter((n) => n.op === 'MatMul' && /MatMul_1$/.test(n.name)).at(-1)!;
    nodes.push({ name: 'other_kernel', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '3' }, { size: '12' }] }, floatVal: [0.5] } } } });
    recurrent.input = [(recurrent.input ?? [])[0], 'other_kernel'];
  }, 'another recurrent kernel at the last step');
});
