// Broken or outlandish model files (a review fed ~70 of them to `tfe verify` and to what `tfe
// deploy` does before it reaches a server): each is refused at once with a message that names the
// problem, within a bounded memory, rather than a hang, a growth of gigabytes, a stack overflow or
// an encoder's error naming no weight.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import { checkRuns, readLayersModel } from '../lib/api/model';
import { parseTopology } from '../lib/api/layers_spec';
import { type W, writeModel } from './helpers/model_files';

const dense = (name: string, units: number, extra: object = {}) => ({ class_name: 'Dense', config: { name, units, activation: 'linear', use_bias: false, ...extra } });
const w = (name: string, shape: number[], fill = 0.5): W => ({ name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });
/** What deploy does with a model file before any server: read it, and run its plaintext once. */
const load = (file: string) => {
  const { json, weights } = readLayersModel(file);
  return checkRuns(json, weights, 'deploy');
};

test('a layer whose output would hold billions of values is refused by name, in bounded memory', (t) => {
  const up = writeModel([{ class_name: 'UpSampling2D', config: { name: 'up', size: [20000, 20000], batch_input_shape: [null, 2, 2, 1] } }], []);
  t.throws(() => load(up), { message: /^deploy: the model cannot run: layer 'up' \(UpSampling2D\): its output would hold 1600000000 values, more than the 268435456 one tensor may/ });
  const rv = writeModel([dense('d0', 1, { batch_input_shape: [null, 4] }), { class_name: 'RepeatVector', config: { name: 'rv', n: 1e9 } }], [w('d0/kernel', [4, 1])]);
  t.throws(() => load(rv), { message: /layer 'rv' \(RepeatVector\): its output would hold 1000000000 values/ });
  const big = writeModel([{ class_name: 'GlobalAveragePooling2D', config: { name: 'gap', batch_input_shape: [null, 50000, 50000, 1] } }, dense('d', 1)], [w('d/kernel', [1, 1])]);
  t.throws(() => load(big), { message: "deploy: the model's input shape [50000,50000,1] holds 2500000000 values per example, more than the 268435456 one tensor may" });
  // Below the bound, such layers run.
  const ok = writeModel([dense('d0', 1, { batch_input_shape: [null, 4] }), { class_name: 'RepeatVector', config: { name: 'rv', n: 1000 } }], [w('d0/kernel', [4, 1])]);
  t.notThrows(() => load(ok));
});

test('a weight file that is a FIFO is refused, not waited on; so is a model.json that is', (t) => {
  const file = writeModel([dense('d', 1, { batch_input_shape: [null, 4] })], [w('d/kernel', [4, 1])]);
  const dir = path.dirname(file);
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  json.weightsManifest[0].paths = ['w.fifo'];
  fs.writeFileSync(file, JSON.stringify(json));
  execFileSync('mkfifo', [path.join(dir, 'w.fifo')]);
  t.throws(() => readLayersModel(file), { message: "weight file 'w.fifo' is not a regular file" });
  const fifoJson = path.join(dir, 'fifo.json');
  execFileSync('mkfifo', [fifoJson]);
  t.throws(() => readLayersModel(fifoJson), { message: /cannot read .*fifo\.json: not a regular file/ });
});

test('a NaN weight is named; JSON that is not an object, an activation that is not a name, zero strides and an unnamed layer are refused as such', (t) => {
  const nan = writeModel([dense('d', 2, { batch_input_shape: [null, 2] })], [{ name: 'd/kernel', shape: [2, 2], data: Float32Array.from([0.5, NaN, 1, 2]) }]);
  t.throws(() => readLayersModel(nan), { message: "weight 'd/kernel' element 1 is NaN: a model's weights must be numbers (was it trained to divergence?)" });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-malformed-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const [text, what] of [['null', 'null'], ['[1]', 'a JSON array'], ['"x"', 'a JSON string']]) {
    const f = path.join(dir, `${what.replace(/ /g, '_')}.json`);
    fs.writeFileSync(f, text);
    t.throws(() => readLayersModel(f), { message: `${f} holds ${what}, not a model (a JSON object with modelTopology and weightsManifest)` });
  }
  const topo = (layers: object[]) => ({ class_name: 'Sequential', config: { name: 's', layers } });
  const shapes = new Map([['d/kernel', [4, 2]], ['c/kernel', [1, 1, 1, 1]]]);
  const parse = (layers: object[]) => parseTopology(topo(layers) as never, (n) => shapes.get(n));
  t.throws(() => parse([dense('d', 2, { batch_input_shape: [null, 4], activation: { class_name: 'relu', config: {} } })]), { message: /activation \{"class_name":"relu","config":\{\}\} is not a name: expected a string such as 'relu'/ });
  t.throws(() => parse([{ class_name: 'Conv2D', config: { name: 'c', filters: 1, kernel_size: [1, 1], strides: [0, 0], use_bias: false, batch_input_shape: [null, 4, 4, 1] } }]), { message: /layer 'c' \(Conv2D\): strides = \[0,0\] is not supported/ });
  t.throws(() => parse([{ class_name: 'MaxPooling2D', config: { name: 'p', pool_size: [0, 0], batch_input_shape: [null, 4, 4, 1] } }]), { message: /layer 'p' \(MaxPooling2D\): pool_size = \[0,0\] is not supported/ });
  t.throws(() => parse([dense('d', 2.5, { batch_input_shape: [null, 4] })]), { message: /layer 'd' \(Dense\): units = 2.5 is not supported/ });
  t.throws(() => parse([dense('d', 2, { batch_input_shape: [null, 4] }), { class_name: 'Dense', config: null }]), { message: 'layer 1 of the topology (Dense) lacks config.name' });
  // A dropout rate is a probability (Keras refuses others); the identity at inference all the same.
  t.throws(() => parse([dense('d', 2, { batch_input_shape: [null, 4] }), { class_name: 'Dropout', config: { name: 'dr', rate: 5 } }]), { message: /layer 'dr' \(Dropout\): rate = 5 is not supported/ });
  t.notThrows(() => parse([dense('d', 2, { batch_input_shape: [null, 4] }), { class_name: 'Dropout', config: { name: 'dr', rate: 0.5 } }]));
  t.throws(() => parse([dense('d', 2, { batch_input_shape: [null, null] })]), { message: /the first layer \('d'\): input shape \[null\] \(after the batch\) must be positive integers: .*; a size left open \(null\) is fixed where the model is read: inputShapes .* or --input-shape .*, such as \[128\], or save the model with a fixed one/ });
});

test('a functional chain of 10 000 layers loads (the graph walk has its own stack); a cycle and an unknown output are still refused', (t) => {
  const N = 10_000;
  const layers: object[] = [{ class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 3] }, inbound_nodes: [] }];
  for (let i = 0; i < N; i++) layers.push({ class_name: 'Activation', name: `a${i}`, config: { name: `a${i}`, activation: 'linear' }, inbound_nodes: [[[i === 0 ? 'in' : `a${i - 1}`, 0, 0, {}]]] });
  const fn = (out: string, extra: object[] = []) => ({ class_name: 'Model', config: { name: 'm', layers: [...layers, ...extra], input_layers: [['in', 0, 0]], output_layers: [[out, 0, 0]] } });
  const spec = parseTopology(fn(`a${N - 1}`) as never, () => undefined);
  t.deepEqual(spec.inputShape, [3]);
  t.throws(() => parseTopology(fn('nothere') as never, () => undefined), { message: "the output names 'nothere', which is not a layer of the model" });
  const cyc = [{ class_name: 'Add', name: 'x', config: { name: 'x' }, inbound_nodes: [[['in', 0, 0, {}], ['y', 0, 0, {}]]] }, { class_name: 'Activation', name: 'y', config: { name: 'y', activation: 'linear' }, inbound_nodes: [[['x', 0, 0, {}]]] }];
  t.throws(() => parseTopology(fn('y', cyc) as never, () => undefined), { message: /the model has a cycle through '(x|y)'/ });
});
