// How `tfe predict`, `verify` and `calibrate` read a JSON input file's {data, shape}: the shape is
// the model's input or a batch of it, never another arrangement of as many values (from the API
// review: [4, 2] for a model of [4] ran as two inputs of four, the file's rows of two re-cut).
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
  t.throws(() => readInputs(file('rows.json', { data: eight, shape: [4, 2] }), [4]), { message: /'shape' \[4,2\] is neither the model's input \[4\] nor a batch of them \[k,4\]/ });
  t.throws(() => readInputs(file('flat.json', { data: eight, shape: [8] }), [2, 2, 2]), { message: /'shape' \[8\] is neither the model's input \[2,2,2\]/ });
  t.throws(() => readInputs(file('count.json', { data: eight, shape: [3, 4] }), [4]), { message: /'shape' \[3,4\] does not match the 8 values of 'data'/ });
  t.throws(() => readInputs(file('bad.json', { data: eight, shape: [2, -4] }), [4]), { message: /'shape' must be an array of positive whole numbers, got \[2,-4\]/ });
  t.throws(() => readInputs(file('str.json', { data: eight, shape: '2x4' }), [4]), { message: /'shape' must be an array of positive whole numbers/ });
});
