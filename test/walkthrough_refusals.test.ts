// Refusals a user walkthrough (214 Keras 3 models) found worded after something else than their
// cause; each now names it: an RNN over cells (its two cells' weights were shortened to one name:
// "names weight twice"), and a
// padding mask Keras 3 combined in a form not supported (its NotEqual named as an operation the
// user wrote).
import test from 'ava';

import * as tfe from '../lib';

const art = (layers: object[], outputs: string, weights: { name: string; shape: number[] }[] = []) =>
  ({
    modelTopology: { class_name: 'Functional', keras_version: '3.10.0', config: { name: 'm', layers, input_layers: [['in', 0, 0]], output_layers: [[outputs, 0, 0]] } },
    weightSpecs: weights.map((w) => ({ ...w, dtype: 'float32' })),
    weightData: new Float32Array(weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0)).buffer,
  }) as unknown as tfe.ModelArtifacts;
const ref = (name: string, shape: (number | null)[], tensor = 0) => ({ class_name: '__keras_tensor__', config: { shape, dtype: 'float32', keras_history: [name, 0, tensor] } });
const input = (shape: number[]) => ({ class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_shape: [null, ...shape] }, inbound_nodes: [] });

// (An RNN over Keras's cells runs as the layers they are: test/rnn_cells.test.ts.)
test('an RNN over an empty stack of cells is refused, naming it', (t) => {
  const rnn = { module: 'keras.layers', class_name: 'RNN', name: 'rnn', config: { name: 'rnn', trainable: true, dtype: 'float32', cell: { class_name: 'StackedRNNCells', config: { cells: [] } } }, inbound_nodes: [{ args: [ref('in', [null, 5, 3])], kwargs: {} }] };
  const weights = ['gru_cell', 'lstm_cell'].map((c) => ({ name: `rnn/stacked_rnn_cells/${c}/kernel`, shape: [3, 4] }));
  t.throws(() => tfe.loadPlainModel(art([input([5, 3]), rnn], 'rnn', weights)), { message: /layer 'rnn' \(RNN\): its stacked cells \[\] are not a list of cells/ });
});

test("a padding mask Keras 3 combined in a form not supported is named as Keras's own mask computation", (t) => {
  const ids = { ...input([6]), config: { name: 'in', batch_shape: [null, 6], dtype: 'int32' } };
  const emb = { class_name: 'Embedding', name: 'emb', config: { name: 'emb', input_dim: 10, output_dim: 4, mask_zero: true }, inbound_nodes: [{ args: [ref('in', [null, 6])], kwargs: {} }] };
  const ne = { module: 'keras.src.ops.numpy', class_name: 'NotEqual', name: 'not_equal', config: { name: 'not_equal' }, inbound_nodes: [{ args: [ref('in', [null, 6]), 0], kwargs: {} }] };
  const ones = { module: 'keras.src.ops.numpy', class_name: 'OnesLike', name: 'ones_like', config: { name: 'ones_like' }, inbound_nodes: [{ args: [ref('not_equal', [null, 6])], kwargs: {} }] };
  const gap = { class_name: 'GlobalAveragePooling1D', name: 'gap', config: { name: 'gap' }, inbound_nodes: [{ args: [ref('emb', [null, 6, 4])], kwargs: { mask: ref('ones_like', [null, 6]) } }] };
  t.throws(() => tfe.loadPlainModel(art([ids, emb, ne, ones, gap], 'gap', [{ name: 'emb/embeddings', shape: [10, 4] }])), { message: /operation '(not_equal|ones_like)' \(keras\.ops (NotEqual|OnesLike)\): is Keras 3's own padding-mask computation/ });
});

// The servers read TfeAddConstant from the deployed topology: its constant is checked where read.
test('a constant added between layers is checked as the servers read it: its size, its values, its batch axis, its broadcast', (t) => {
  const layer = (config: object) => [input([3, 4]), { module: 'keras.layers', class_name: 'TfeAddConstant', name: 'c', config: { name: 'c', ...config }, inbound_nodes: [{ args: [ref('in', [null, 3, 4])], kwargs: {} }] }];
  const values = (n: number) => Array.from({ length: n }, (_, i) => i / 10);
  const cases: [object, RegExp][] = [
    [{ shape: [3, 4], values: values(11) }, /'c' \(TfeAddConstant\): values must be 12 finite numbers \(the shape \[3,4\]\)/],
    [{ shape: [3, 4], values: [...values(11), Number.NaN] }, /values must be 12 finite numbers/],
    [{ shape: [2, 3, 4], values: values(24) }, /its constant of shape \[2,3,4\] has a batch axis of 2: it would differ between examples/],
    [{ shape: [5, 4], values: values(20) }, /its constant of shape \[5,4\] does not broadcast onto its input \[1,3,4\]/],
    [{ shape: [2048, 1024], values: [] }, /its constant of 2097152 values is more than the 1048576 a topology may carry/],
    [{ shape: [3, 4], values: values(12), input_sign: 2 }, /input_sign = 2 is not 1 or -1/],
  ];
  for (const [config, message] of cases) t.throws(() => tfe.loadPlainModel(art(layer(config), 'c')), { message }, JSON.stringify(config).slice(0, 60));
  const ok = tfe.loadPlainModel(art(layer({ shape: [1, 4], values: [1, 2, 3, 4], input_sign: -1 }), 'c')).forward({ data: new Float64Array(12).fill(1), shape: [1, 3, 4] });
  t.deepEqual([...ok.data], [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
});

// keras3_masks.ts follows a merge's LogicalOr of a mask with itself; a topology whose mask refers
// back to itself (no model has one) is refused, not followed forever.
test('a Keras 3 mask operation that refers to itself is refused, not followed forever', (t) => {
  const ids = { ...input([6]), config: { name: 'in', batch_shape: [null, 6], dtype: 'int32' } };
  const emb = { class_name: 'Embedding', name: 'emb', config: { name: 'emb', input_dim: 10, output_dim: 4, mask_zero: true }, inbound_nodes: [{ args: [ref('in', [null, 6])], kwargs: {} }] };
  const or = { module: 'keras.src.ops.numpy', class_name: 'LogicalOr', name: 'or', config: { name: 'or' }, inbound_nodes: [{ args: [ref('or', [null, 6]), ref('or', [null, 6])], kwargs: {} }] };
  const gap = { class_name: 'GlobalAveragePooling1D', name: 'gap', config: { name: 'gap' }, inbound_nodes: [{ args: [ref('emb', [null, 6, 4])], kwargs: { mask: ref('or', [null, 6]) } }] };
  t.throws(() => tfe.loadPlainModel(art([ids, emb, or, gap], 'gap', [{ name: 'emb/embeddings', shape: [10, 4] }])), { message: /'or'.*(padding-mask computation|cycle)/ });
});
