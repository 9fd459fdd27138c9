// Token ids in a GraphModel (lib/api/graph_model_ids.ts): an int input read by an embedding
// lookup (GatherV2 of a constant table, behind Keras 3's wrap of negative ids) becomes Keras's
// Embedding, so the input owner shares the ids one-hot and the servers never see one; global
// pooling over a sequence's steps translates. TensorFlow.js's own GraphModel executor is the
// reference. Any other op on the ids is refused: it would read the one-hot, not the ids.
import test from 'ava';

import * as tfe from '../lib';
import { GraphBuilder, i, reference, T, textModel, VOCAB } from './helpers/graph_models';

const maxDiff = (a: ArrayLike<number>, c: ArrayLike<number>) => Array.from(a).reduce((m, v, k) => Math.max(m, Math.abs(v - c[k])), 0);
const INT = { T: { type: 'DT_INT32' } };

for (const pool of ['Mean', 'Max'] as const) {
  test(`token ids through an embedding lookup and a ${pool} over the steps: TensorFlow.js's answers, and the servers get the ids one-hot`, async (t) => {
    const { file, artifacts } = textModel(pool);
    const x = Float64Array.from({ length: 10 }, (_, k) => (k === 0 ? 0 : k === 1 ? VOCAB - 1 : Math.floor(Math.random() * VOCAB)));
    const want = await reference(artifacts, x, [2, 5], 'int32');
    const plain = tfe.loadPlainModel(file).predict({ data: x, shape: [2, 5] }) as { data: Float64Array };
    t.true(maxDiff(plain.data, want) < 1e-5, `plaintext ${[...plain.data]} vs tfjs ${[...want]}`);
    for (const protocol of ['securenn', 'fss'] as const) {
      const c = new tfe.Cluster({ protocol });
      try {
        const m = tfe.loadLayersModel(file, { cluster: c });
        t.deepEqual(m.inputEncoding, { oneHot: VOCAB }, 'shared one-hot over the table\'s rows');
        const y = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [2, 5] }))));
        t.true(maxDiff(y.data, want) < 5e-3, `${protocol}: ${[...y.data]} vs tfjs ${[...want]}`);
        // An id outside the table is refused before anything is shared (Keras would wrap a negative one).
        t.throws(() => m.defineInput('prediction-client', () => ({ data: Float64Array.from([-1, 0, 0, 0, 0]), shape: [1, 5] })), { message: /out of range: token ids must be in \[0, 12\)/ });
      } finally {
        await c.close();
      }
    }
  });
}

/** ids [-1, 5] read by `bad`. */
function idsInto(bad: (g: GraphBuilder, ids: string) => string): string {
  const g = new GraphBuilder();
  const ids = g.input('ids', [-1, 5], 'DT_INT32');
  return g.save({ y: g.node('Identity', 'Identity', [bad(g, ids)], T) }, { ids: 'ids' }).file;
}

test('token ids read by anything but an embedding lookup are refused, naming the op', (t) => {
  t.throws(() => tfe.loadPlainModel(idsInto((g, ids) => g.node('cast', 'Cast', [ids], { SrcT: { type: 'DT_INT32' }, DstT: { type: 'DT_FLOAT' } }))), {
    message: /node 'cast' \(Cast\): casts token ids \(an int input\) to DT_FLOAT: ids are read only by an embedding lookup/,
  });
  t.throws(() => tfe.loadPlainModel(idsInto((g, ids) => g.node('relu', 'Relu', [ids], INT))), { message: /node 'relu' \(Relu\): reads token ids \(the int input 'ids'\): only an embedding lookup/ });
  t.throws(() => tfe.loadPlainModel(idsInto((g, ids) => g.node('gather', 'GatherV2', [g.random('table', [4, 12], 1), ids, g.constant('axis', [], [1], 'int32')], { batch_dims: i(0) }))), {
    message: /node 'gather' \(GatherV2\): only a lookup of rows \(axis 0, batch_dims 0\) in a constant \[vocabulary, width\] table translates/,
  });
  // A wrap that is not Keras's (ids below 1 moved): kept, and refused as a reader of the ids.
  t.throws(() => tfe.loadPlainModel(textModel('Mean', 1).file), { message: /node 'emb\/(Less|add|SelectV2)' \((Less|AddV2|SelectV2)\): reads token ids/ });
  // A float input is still float only where it is read as numbers.
  t.throws(() => tfe.loadPlainModel(idsInto((g, ids) => g.node('gather', 'GatherV2', [g.random('table', [12, 3], 1), g.node('r', 'Relu', [g.input('f', [-1, 5])], T), g.constant('axis', [], [0], 'int32')], { batch_dims: i(0) }))), {
    message: /node 'gather' \(GatherV2\): gathers rows by a value that is not token ids straight from an int input/,
  });
});

test("a float input read only through casts to int (Keras's default Input dtype before an Embedding) is token ids: shared one-hot, whole numbers only", async (t) => {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 5]);
  const ids = g.node('emb/Cast', 'Cast', [x], { SrcT: { type: 'DT_FLOAT' }, DstT: { type: 'DT_INT32' }, Truncate: { b: false } });
  const rows = g.node('emb/GatherV2', 'GatherV2', [g.random('emb/table', [VOCAB, 4], 1), ids, g.constant('emb/axis', [], [0], 'int32')], { Tparams: { type: 'DT_FLOAT' }, Tindices: { type: 'DT_INT32' }, Taxis: { type: 'DT_INT32' }, batch_dims: i(0) });
  const pooled = g.node('pool/Mean', 'Mean', [rows, g.constant('pool/axis', [1], [1], 'int32')], { ...T, keep_dims: { b: false }, Tidx: { type: 'DT_INT32' } });
  const { file, artifacts } = g.save({ y: g.node('Identity', 'Identity', [pooled], T) }, { x: 'x' });
  const data = Float64Array.from({ length: 10 }, () => Math.floor(Math.random() * VOCAB));
  const want = await reference(artifacts, data, [2, 5]);
  const plain = tfe.loadPlainModel(file).predict({ data, shape: [2, 5] }) as { data: Float64Array };
  t.true(maxDiff(plain.data, want) < 1e-5, `plaintext ${[...plain.data]} vs tfjs ${[...want]}`);
  const c = new tfe.Cluster({ protocol: 'fss' });
  try {
    const m = tfe.loadLayersModel(file, { cluster: c });
    t.deepEqual(m.inputEncoding, { oneHot: VOCAB });
    const y = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data, shape: [2, 5] }))));
    t.true(maxDiff(y.data, want) < 5e-3, `fss: ${[...y.data]} vs tfjs ${[...want]}`);
    // TensorFlow's cast would truncate 2.5 to 2: refused rather than guessed.
    t.throws(() => m.defineInput('prediction-client', () => ({ data: Float64Array.from([2.5, 0, 0, 0, 0]), shape: [1, 5] })), { message: /2\.5/ });
  } finally {
    await c.close();
  }
  // Read as numbers too, it stays a float input, and the cast is refused.
  t.throws(
    () => tfe.loadPlainModel(idsInto((g2, ids2) => {
      const f = g2.input('f', [-1, 5]);
      const cast = g2.node('cast', 'Cast', [f], { SrcT: { type: 'DT_FLOAT' }, DstT: { type: 'DT_INT32' } });
      return g2.node('sum', 'AddV2', [g2.node('relu', 'Relu', [f], T), g2.node('gather', 'GatherV2', [g2.random('t', [VOCAB, 5], 1), cast, g2.constant('a', [], [0], 'int32')], { batch_dims: i(0) })], T);
    })),
    { message: /node 'cast' \(Cast\): casts a float value to DT_INT32: supported only where a float input is read as token ids alone/ },
  );
});
