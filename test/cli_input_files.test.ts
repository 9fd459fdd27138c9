// How `tfe predict`, `verify` and `calibrate` read a JSON input file's {data, shape}: one input or a
// batch of them along the first axis, never rows that are not whole inputs (from the API review:
// [4, 2] for a model of [4] ran as two inputs of four, the file's rows of two re-cut).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { readInputs } from '../lib/cli/inputs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-inputs-'));
const file = (name: string, v: unknown) => {
  const f = path.join(dir, name);
  fs.writeFileSync(f, JSON.stringify(v));
  return f;
};
const eight = [1, 2, 3, 4, 5, 6, 7, 8];

test('{data, shape}: one input, a batch, and shapes that arrange the values otherwise are refused', (t) => {
  t.deepEqual(readInputs(file('one.json', { data: [1, 2, 3, 4], shape: [4] }), [4]).images.map((x) => [...x]), [[1, 2, 3, 4]]);
  t.deepEqual(readInputs(file('batch.json', { data: eight, shape: [2, 4] }), [4]).images.map((x) => [...x]), [[1, 2, 3, 4], [5, 6, 7, 8]]);
  t.deepEqual(readInputs(file('image.json', { data: eight, shape: [2, 2, 2, 1] }), [2, 2, 1]).images.length, 2);
  t.deepEqual(readInputs(file('noshape.json', { data: eight }), [4]).images.length, 2); // no shape: whole inputs in order
  // Each input laid out otherwise than the model's shape, as files often are: [784] for [28, 28, 1].
  t.deepEqual(readInputs(file('flat.json', { data: eight, shape: [8] }), [2, 2, 2]).images.length, 1);
  t.deepEqual(readInputs(file('flatBatch.json', { data: eight, shape: [2, 2, 2] }), [4, 1]).images.map((x) => [...x]), [[1, 2, 3, 4], [5, 6, 7, 8]]);
  t.deepEqual(readInputs(file('scalars.json', { data: [1, 2, 3], shape: [3] }), [1]).images.length, 3);
  // Rows that are not whole inputs would be re-cut: refused.
  t.throws(() => readInputs(file('rows.json', { data: eight, shape: [4, 2] }), [4]), { message: /'shape' \[4,2\] is neither one input of the model's \[4\] \(4 values\) nor a batch of them/ });
  t.throws(() => readInputs(file('rows3.json', { data: [...eight, 9, 10, 11, 12], shape: [2, 6] }), [4]), { message: /'shape' \[2,6\] is neither/ });
  t.throws(() => readInputs(file('count.json', { data: eight, shape: [3, 4] }), [4]), { message: /'shape' \[3,4\] does not match the 8 values of 'data'/ });
  t.throws(() => readInputs(file('bad.json', { data: eight, shape: [2, -4] }), [4]), { message: /'shape' must be an array of positive whole numbers, got \[2,-4\]/ });
  t.throws(() => readInputs(file('str.json', { data: eight, shape: '2x4' }), [4]), { message: /'shape' must be an array of positive whole numbers/ });
});

test('several inputs: each by name (one example or a batch, labels beside) or a list in order, packed per example; anything else refused by name', (t) => {
  const inputs = [{ name: 'numbers', inputShape: [3] }, { name: 'tokens', inputShape: [2], inputEncoding: { oneHot: 9 } }];
  const read = (name: string, v: unknown) => readInputs(file(name, v), [5], inputs);
  const two = read('named.json', { tokens: [[1, 2], [3, 4]], numbers: [[0.5, 1, 2], [3, 4, 5]], labels: [1, 0] });
  t.deepEqual(two.images.map((x) => [...x]), [[0.5, 1, 2, 1, 2], [3, 4, 5, 3, 4]]);
  t.deepEqual(two.labels, [1, 0]);
  t.deepEqual(read('list.json', [[7, 8, 9], [5, 6]]).images.map((x) => [...x]), [[7, 8, 9, 5, 6]]);
  // Packed already: {data, shape} as for one input.
  t.is(read('packed.json', { data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], shape: [2, 5] }).images.length, 2);
  t.throws(() => read('missing.json', { numbers: [1, 2, 3] }), { message: /missing input 'tokens' \(the model's inputs: 'numbers', 'tokens'\)/ });
  t.throws(() => read('extra.json', { numbers: [1, 2, 3], tokens: [1, 2], words: [1] }), { message: /unknown input 'words'/ });
  t.throws(() => read('count.json', [[1, 2, 3]]), { message: /a list of 1 input, but the model takes 2/ });
  t.throws(() => read('ragged.json', { numbers: [1, 2, 3, 4], tokens: [1, 2] }), { message: /input 'numbers' has 4 values, not whole examples of its shape \[3\]/ });
  t.throws(() => read('batches.json', { numbers: [1, 2, 3, 4, 5, 6], tokens: [1, 2] }), { message: /different numbers of examples \('numbers' 2, 'tokens' 1\)/ });
  t.throws(() => read('labels.json', { numbers: [1, 2, 3], tokens: [1, 2], labels: [1, 2] }), { message: /one label per example \(1\)/ });
  t.throws(() => readInputs(path.join(dir, 'x.png'), [5], inputs), { message: /the model takes 2 inputs \('numbers', 'tokens'\): give JSON with each by name/ });
});

test('several inputs, one named data: read by name, not as {data, shape}', (t) => {
  const inputs = [{ name: 'data', inputShape: [2] }, { name: 'meta', inputShape: [2] }];
  t.deepEqual(readInputs(file('data.json', { data: [[1, 2], [3, 4]], meta: [[5, 6], [7, 8]] }), [4], inputs).images.map((x) => [...x]), [[1, 2, 5, 6], [3, 4, 7, 8]]);
  // Packed {data, shape} still reads where no input has those names.
  t.is(readInputs(file('packed2.json', { data: [1, 2, 3, 4], shape: [1, 4] }), [4], [{ name: 'a', inputShape: [2] }, { name: 'b', inputShape: [2] }]).images.length, 1);
});
