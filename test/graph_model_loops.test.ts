// Recurrent layers in a GraphModel (lib/api/graph_model_loops.ts): TensorFlow's while loops of
// Keras's LSTM, GRU and SimpleRNN become those layers. Keras 3.15's own predictions on the
// fixtures are checked in graph_model_keras.test.ts; here, what each loop becomes, and loops
// that differ from Keras's cells being refused, naming a loop op, rather than translated.
import test from 'ava';

import * as tfe from '../lib';
import { fixtureArtifacts as artifacts, type FixtureNode as Node, translatedLayers as layersOf } from './helpers/graph_fixtures';

const summary = (a: tfe.ModelArtifacts) => layersOf(a).map((l) => [l.class_name, ...['units', 'return_sequences', 'go_backwards', 'reset_after'].filter((k) => l.config[k] !== undefined).map((k) => `${k}=${String(l.config[k])}`)].join(' '));

test('each loop becomes its Keras layer: stacked LSTMs, a Bidirectional LSTM (two loops, one reversed), a GRU and a SimpleRNN going backwards', (t) => {
  t.deepEqual(summary(artifacts('stacked_lstm')).filter((s) => /LSTM/.test(s)), ['LSTM units=5 return_sequences=true go_backwards=false', 'LSTM units=4 return_sequences=false go_backwards=false']);
  t.deepEqual(summary(artifacts('bidirectional_lstm')).filter((s) => /LSTM|Concatenate/.test(s)), ['LSTM units=4 return_sequences=false go_backwards=false', 'LSTM units=4 return_sequences=false go_backwards=true', 'Concatenate']);
  t.deepEqual(summary(artifacts('gru_rnn')).filter((s) => /GRU|RNN/.test(s)), ['GRU units=4 return_sequences=true go_backwards=false reset_after=true', 'SimpleRNN units=3 return_sequences=false go_backwards=true']);
});

test("with Keras's padding mask, each loop's layer is handed the mask of the ids (a padded step keeps the state; zero outputs where Bidirectional asks)", (t) => {
  const tagger = layersOf(artifacts('padded_tagger')).filter((l) => /LSTM|GRU/.test(l.class_name));
  t.deepEqual(tagger.map((l) => l.config.zero_output_for_mask), [true, true, true, true]);
  t.deepEqual(layersOf(artifacts('padded_recurrent')).filter((l) => /LSTM|GRU/.test(l.class_name)).map((l) => l.config.zero_output_for_mask), [undefined, undefined, undefined]);
  const layers = layersOf(artifacts('padded_recurrent'));
  const handed = layers.filter((l) => /LSTM|GRU/.test(l.class_name)).map((l) => [l.class_name, JSON.stringify((l as unknown as { inbound_nodes: unknown[][][] }).inbound_nodes[0][0][3])]);
  const note = JSON.stringify({ mask: { class_name: '__tfe_padding_mask__', config: { source: 'input' } } });
  t.deepEqual(handed, [['LSTM', note], ['GRU', note], ['GRU', note]]);
  // A Masking layer's: the layer itself (mask_value), and each loop handed the mask of its input's values.
  const series = layersOf(artifacts('masked_series'));
  t.like(series.find((l) => l.class_name === 'Masking')?.config, { mask_value: -1 });
  const valued = JSON.stringify({ mask: { class_name: '__tfe_padding_mask__', config: { source: 'input', maskValue: -1 } } });
  t.deepEqual(series.filter((l) => /LSTM|GRU/.test(l.class_name)).map((l) => JSON.stringify((l as unknown as { inbound_nodes: unknown[][][] }).inbound_nodes[0][0][3])), [valued, valued]);
});

test('loops that are not Keras cells are refused, naming a loop op', (t) => {
  const loopOp = /GraphModel node '.*' \((TensorList\w+|Enter|Exit|Merge|Switch|NextIteration|LoopCond)\): this op is part of a while loop/;
  const refused = (name: string, edit: (nodes: Node[]) => void, why: string, message = loopOp) => t.throws(() => tfe.loadPlainModel(artifacts(name, edit)), { message }, why);
  const body = (nodes: Node[], op: string) => nodes.filter((n) => n.op === op && /while\/body/.test(n.name));
  // Another activation on the LSTM's output gate (the last Sigmoid of the second LSTM).
  refused('stacked_lstm', (nodes) => (body(nodes, 'Sigmoid').at(-1)!.op = 'Relu'), 'a relu gate');
  // The state's gate from the input gate's columns (split:0) instead of the forget gate's (split:1).
  refused('stacked_lstm', (nodes) => {
    const mul = body(nodes, 'Mul').find((n) => (n.input ?? []).some((r) => /zeros_1_switch/.test(r)))!;
    const gate = nodes.find((n) => (mul.input ?? []).includes(n.name) && n.op === 'Sigmoid')!;
    gate.input = [(gate.input ?? [])[0].replace(/:1$/, '')];
  }, 'the input gate on the state');
  // GRU's (1 - z) as (2 - z).
  refused('gru_rnn', (nodes) => {
    const sub = body(nodes, 'Sub')[0];
    sub.input = ['two', (sub.input ?? [])[1]];
    nodes.push({ name: 'two', op: 'Const', attr: { dtype: { type: 'DT_FLOAT' }, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: {}, floatVal: [2] } } } });
  }, "GRU's 2 - z");
  // A padded step's output the LSTM's cell state c instead of the last output (or zeros).
  refused('padded_recurrent', (nodes) => {
    const write = body(nodes, 'TensorListSetItem')[0];
    const sel = nodes.find((n) => n.name === (write.input ?? [])[2])!;
    const cKept = body(nodes, 'SelectV2').find((n) => (n.input ?? []).some((r) => /zeros_1_switch/.test(r)))!;
    sel.input = [(sel.input ?? [])[0], (sel.input ?? [])[1], (cKept.input ?? [])[2]];
  }, "c at padded steps");
  // A loop that runs past the sequence: its bound raised.
  refused('bidirectional_lstm', (nodes) => {
    const less = nodes.filter((n) => n.op === 'Less' && /while\/cond/.test(n.name));
    for (const l of less) l.input = [(l.input ?? [])[0], 'far', ...(l.input ?? []).slice(2)];
    nodes.push({ name: 'far', op: 'Const', attr: { dtype: { type: 'DT_INT32' }, value: { tensor: { dtype: 'DT_INT32', tensorShape: {}, intVal: [7] } } } });
  }, 'seven steps over six', /\(_Recurrent\): an LSTM loop of 7 steps over 6 features reads values of shape \[6,6\] per example/);
});
