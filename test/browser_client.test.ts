// The browser client's code, run in Node against a real local cluster (three server processes,
// mutual TLS between them, wss for clients): a socket factory hands it the `ws` package's
// WebSocket with the cluster CA, and otherwise it runs exactly as in a page. Its answers are
// compared with the Node client's for the same inputs; the refused origin, a dropped server and
// every failure must end in a rejected promise with a message.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

import test, { type ExecutionContext } from 'ava';
import WebSocket from 'ws';

import { pngInput } from '../lib/cli/inputs';
import { decodePng } from '../lib/cli/png';
import { pngFile } from './helpers/png_file';
import { connect, type SocketFactory } from '../lib/browser';
import { tfjsArtifacts } from './helpers/tfjs_save';
import { kerasArtifacts, type KerasFixture, kerasFixtures } from './helpers/keras_fixtures';
import { PredictionClient } from '../lib/serve/client';
import { loadClusterConfig, readPem } from '../lib/serve/config';
import { DIGITS, MODEL_NAME, startWebCluster, type WebCluster } from '../examples/web/cluster';

const ORIGIN = 'http://127.0.0.1:8123';
let cluster: WebCluster;
let ca: Buffer;
const logs: string[] = [];

/** The `ws` WebSocket as a page's would be: it trusts the cluster CA and sends `origin`. */
const sockets = (origin?: string): SocketFactory => (url, protocols) => new WebSocket(url, protocols, { ca, origin }) as never;

test.before(async () => {
  cluster = await startWebCluster({ dir: fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-browser-')), allowedOrigins: [ORIGIN], tls: true, log: (l) => logs.push(l) });
  const c = loadClusterConfig(cluster.config);
  ca = readPem(c, c.ca!, 'CA');
});
test.after.always(async () => cluster?.stop());

/** Whether a server logs a line matching `re` within 3 s (log lines come through the child's stderr pipe). */
async function logged(re: RegExp): Promise<boolean> {
  for (let i = 0; i < 60; i++) {
    if (logs.some((l) => re.test(l))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

const digits = JSON.parse(fs.readFileSync(DIGITS, 'utf8')) as { images: number[][]; labels: number[] };

/** Largest difference between two logit vectors (fresh shares and truncation each time: not bit-equal). */
const maxDiff = (a: Float64Array, b: Float64Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test.serial('a browser-client prediction equals the Node client\'s for the same input', async (t) => {
  const browser = await connect(cluster.endpoints, { socket: sockets(ORIGIN), fracBits: cluster.fracBits });
  const node = await PredictionClient.connect(cluster.config);
  try {
    const models = await browser.models();
    t.deepEqual(models.find((m) => m.name === MODEL_NAME)?.inputShape, [784]);
    let correct = 0;
    for (const [i, im] of digits.images.slice(0, 5).entries()) {
      const input = { data: Float64Array.from(im), shape: [1, 784] };
      const [b, n] = await Promise.all([browser.predict(MODEL_NAME, input), node.predict(MODEL_NAME, input)]);
      t.deepEqual(b.shape, n.shape);
      t.deepEqual(b.classes, n.classes, `digit ${i}`);
      t.true(maxDiff(b.data, n.data) < 0.05, `digit ${i}: logits differ by ${maxDiff(b.data, n.data)}`);
      if (b.classes[0] === digits.labels[i]) correct++;
      t.is(b.sent.server0.byteLength, 16);
      t.true(b.latencyMs > 0);
    }
    t.true(correct >= 4, `${correct}/5 correct`);
    // The other input forms: nested arrays, a bare typed array (whole examples), a batch of two.
    const nested = await browser.predict(MODEL_NAME, [digits.images[0]]);
    t.deepEqual(nested.classes, [digits.labels[0]]);
    const typed = await browser.predict(MODEL_NAME, Float32Array.from([...digits.images[1], ...digits.images[2]]));
    t.deepEqual(typed.shape, [2, 10]);
    t.deepEqual(typed.classes, [digits.labels[1], digits.labels[2]]);
    // The Node client takes the same forms (it refused a bare typed array and an image).
    const nodeTyped = await node.predict(MODEL_NAME, Float32Array.from([...digits.images[1], ...digits.images[2]]));
    t.deepEqual(nodeTyped.shape, [2, 10]);
    t.deepEqual(nodeTyped.classes, typed.classes);
    const rgba = new Uint8ClampedArray(784 * 4);
    digits.images[4].forEach((v, i) => rgba.set([Math.round(v * 255), Math.round(v * 255), Math.round(v * 255), 255], 4 * i));
    const [bImage, nImage] = await Promise.all([browser.predict(MODEL_NAME, { width: 28, height: 28, data: rgba }), node.predict(MODEL_NAME, { width: 28, height: 28, data: rgba })]);
    t.deepEqual(nImage.classes, bImage.classes);
    t.is(nImage.classes[0], digits.labels[4]);
    await t.throwsAsync(node.predict(MODEL_NAME, new Float64Array(100)), { message: /100 values are not whole examples of the model's input shape \[784\]/ });
    // Each client reads its input when called: a buffer refilled for the next query, or a tfjs
    // tensor disposed, right after the call, is what was asked (the Node client read it later).
    const tf = createRequire(__filename)('@tensorflow/tfjs');
    for (const c of [node, browser]) {
      const buf = Float64Array.from(digits.images[5]);
      const firstAsked = c.predict(MODEL_NAME, { data: buf, shape: [1, 784] });
      buf.set(digits.images[6]);
      const typedAsked = c.predict(MODEL_NAME, buf);
      buf.set(digits.images[7]);
      const tensor = tf.tensor2d([digits.images[8]]);
      const tensorAsked = c.predict(MODEL_NAME, tensor);
      tensor.dispose();
      const answers = await Promise.all([firstAsked, typedAsked, tensorAsked]);
      const alone = await Promise.all([5, 6, 8].map((i) => c.predict(MODEL_NAME, [digits.images[i]])));
      answers.forEach((a, k) => t.true(maxDiff(a.data, alone[k].data) < 0.05, `query ${k}: logits differ by ${maxDiff(a.data, alone[k].data)} from the same input's alone`));
    }
  } finally {
    browser.close();
    await node.close();
  }
});

test.serial('both clients give what tfjs\'s model.predict gives: a sigmoid ending applied, a binary classifier\'s class by 0.5, a softmax\'s probabilities', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const tf: any = createRequire(__filename)('@tensorflow/tfjs');
  const L = tf.layers;
  // Seeded weights: no output lands near 0.5, where the encoding's error could flip a class.
  const init = (seed: number) => ({ kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: 'zeros' });
  const models = {
    'ends-binary': tf.sequential({ layers: [L.dense({ inputShape: [4], units: 1, activation: 'sigmoid', ...init(1) })] }),
    'ends-labels': tf.sequential({ layers: [L.dense({ inputShape: [4], units: 3, activation: 'sigmoid', ...init(3) })] }),
    'ends-softmax': tf.sequential({ layers: [L.dense({ inputShape: [4], units: 3, activation: 'softmax', ...init(5) })] }),
    'ends-value': tf.sequential({ layers: [L.dense({ inputShape: [4], units: 1, ...init(4) })] }),
  };
  const owner = await PredictionClient.connect(cluster.config, { asOwner: true });
  try {
    for (const [name, m] of Object.entries(models)) await owner.deploy(await tfjsArtifacts(tf, m), { name, protocol: 'pond' });
  } finally {
    await owner.close();
  }
  const inputs = [[1, 2, -1, 0.5], [-1, -2, 1, -0.5], [1, 2, 3, 4]];
  const browser = await connect(cluster.endpoints, { socket: sockets(ORIGIN), fracBits: cluster.fracBits });
  const node = await PredictionClient.connect(cluster.config);
  try {
    for (const [name, m] of Object.entries(models)) {
      const want: number[][] = m.predict(tf.tensor2d(inputs)).arraySync();
      const final = name === 'ends-softmax' ? 'softmax' : name === 'ends-value' ? undefined : 'sigmoid';
      if (name === 'ends-binary') t.deepEqual(new Set(want.map((w) => w[0] >= 0.5)).size, 2, `both classes among the answers (${want})`);
      for (const p of [await browser.predict(name, inputs), await node.predict(name, { data: Float64Array.from(inputs.flat()), shape: [3, 4] })]) {
        t.is(p.finalActivation, final, name);
        want.forEach((w, r) => {
          const width = w.length, got = p.outputs.subarray(r * width, (r + 1) * width);
          t.true(w.every((v, j) => Math.abs(got[j] - v) < 1e-2), `${name} row ${r}: outputs ${[...got]} vs tfjs ${w}`);
          if (final) t.true(w.every((v, j) => Math.abs(p.probabilities[r * width + j] - v) < 1e-2), `${name} row ${r}: probabilities`);
          const argmax = w.indexOf(Math.max(...w));
          t.is(p.classes[r], name === 'ends-binary' ? (w[0] >= 0.5 ? 1 : 0) : argmax, `${name} row ${r}: class`);
        });
        if (!final) t.deepEqual([...p.outputs], [...p.data], 'without a final activation the outputs are the logits');
      }
    }
  } finally {
    browser.close();
    await node.close();
  }
});

/** Deploys a Keras 3 fixture under FSS as the owner. */
async function deployed(f: KerasFixture, name: string): Promise<void> {
  const owner = await PredictionClient.connect(cluster.config, { asOwner: true });
  try {
    await owner.deploy(kerasArtifacts(f), { name, protocol: 'fss' });
  } finally {
    await owner.close();
  }
}

test.serial('the page applies an exponential ending (a Poisson model\'s rates, Keras 3) as Keras predicts: it names it among the activations it applies, so the servers serve it', async (t) => {
  const f = kerasFixtures('keras3_final_models.json').f1_poisson_dense_exponential;
  await deployed(f, 'ends-rate');
  const browser = await connect(cluster.endpoints, { socket: sockets(ORIGIN), fracBits: cluster.fracBits });
  try {
    const n = f.shape[0], per = f.x.length / n;
    const p = await browser.predict('ends-rate', Array.from({ length: n }, (_, i) => f.x.slice(i * per, (i + 1) * per) as number[]));
    t.is(p.finalActivation, 'exponential');
    f.y.forEach((v, k) => t.true(Math.abs(p.outputs[k] - v) <= 2e-3 * Math.max(1, Math.abs(v)), `rate ${k}: ${p.outputs[k]} vs Keras ${v}`));
  } finally {
    browser.close();
  }
});

/** Deploys a Keras 3 fixture of keras3_more_layer_models.json, asks the page with `input(f)`, and checks Keras's answer within 2e-3. */
async function pageAnswersAsKeras(t: ExecutionContext, fixture: string, name: string, input: (f: KerasFixture) => unknown): Promise<void> {
  const f = kerasFixtures('keras3_more_layer_models.json')[fixture];
  await deployed(f, name);
  const browser = await connect(cluster.endpoints, { socket: sockets(ORIGIN), fracBits: cluster.fracBits });
  try {
    const p = await browser.predict(name, input(f) as never);
    f.y.forEach((v, k) => t.true(Math.abs(p.outputs[k] - v) < 2e-3, `output ${k}: ${p.outputs[k]} vs Keras ${v}`));
  } finally {
    browser.close();
  }
}

test.serial('the page sends a string input\'s strings as their ids (a StringLookup model, Keras 3), and answers as Keras predicted', (t) =>
  pageAnswersAsKeras(t, 'sl2_words_embedding_masked', 'words', (f) => ({ data: f.x, shape: f.shape })));

test.serial('the page splits texts as TextVectorization does and sends their tokens\' ids (a review classifier, Keras 3), answering as Keras predicted', (t) =>
  pageAnswersAsKeras(t, 'tv1_review_classifier', 'reviews', (f) => (f.x as string[]).map((x) => [x])));

test.serial('a model with two inputs (token ids and numbers) and three outputs: both clients give each output as tfjs does, inputs by list or by name', async (t) => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const tf: any = createRequire(__filename)('@tensorflow/tfjs');
  const L = tf.layers;
  const nums = tf.input({ shape: [3], name: 'numbers' }), ids = tf.input({ shape: [4], name: 'tokens' });
  const shared = L.dense({ units: 5, activation: 'relu', name: 'shared_block' });
  const joined = L.concatenate().apply([shared.apply(L.dense({ units: 5 }).apply(nums)), L.flatten().apply(L.embedding({ inputDim: 9, outputDim: 2 }).apply(ids))]);
  const h = shared.apply(L.dense({ units: 5 }).apply(joined));
  const gate = L.dense({ units: 1, activation: 'sigmoid', name: 'gate' }).apply(h);
  const model = tf.model({ inputs: [nums, ids], outputs: [L.dense({ units: 3, activation: 'softmax', name: 'classes' }).apply(h), gate, L.dense({ units: 2, name: 'value' }).apply(L.concatenate().apply([h, gate]))] });
  const owner = await PredictionClient.connect(cluster.config, { asOwner: true });
  try {
    await owner.deploy(await tfjsArtifacts(tf, model), { name: 'two-in-three-out' });
  } finally {
    await owner.close();
  }
  const numbers = [[0.5, -1, 2], [1.5, 0.25, -0.75]], tokens = [[1, 8, 0, 3], [7, 7, 2, 5]];
  const want: number[][][] = model.predict([tf.tensor2d(numbers), tf.tensor2d(tokens)]).map((o: { arraySync(): number[][] }) => o.arraySync());
  const browser = await connect(cluster.endpoints, { socket: sockets(ORIGIN), fracBits: cluster.fracBits });
  const node = await PredictionClient.connect(cluster.config);
  try {
    const listed = (await node.models()).find((m) => m.name === 'two-in-three-out')!;
    t.deepEqual(listed.inputs?.map((i) => [i.name, i.inputShape, i.inputEncoding?.oneHot]), [['numbers', [3], undefined], ['tokens', [4], 9]]);
    t.deepEqual(listed.outputs?.map((o) => [o.name, o.finalActivation]), [['classes', 'softmax'], ['gate', 'sigmoid'], ['value', undefined]]);
    const answers = [
      await browser.predict('two-in-three-out', [numbers, tokens]),
      await browser.predict('two-in-three-out', { tokens, numbers }),
      await node.predict('two-in-three-out', [{ data: Float64Array.from(numbers.flat()), shape: [2, 3] }, tokens]),
      await node.predict('two-in-three-out', { numbers, tokens: { data: Float64Array.from(tokens.flat()), shape: [2, 4] } }),
    ];
    for (const [k, p] of answers.entries()) {
      t.deepEqual(p.perOutput?.map((o) => [o.name, o.shape, o.finalActivation]), [['classes', [2, 3], 'softmax'], ['gate', [2, 1], 'sigmoid'], ['value', [2, 2], undefined]], `answer ${k}`);
      p.perOutput!.forEach((o, i) => want[i].forEach((w, r) => t.true(w.every((v, j) => Math.abs(o.outputs[r * w.length + j] - v) < 1e-2), `answer ${k} output '${o.name}' row ${r}: ${[...o.outputs]} vs tfjs ${want[i]}`)));
      t.deepEqual(p.perOutput![0].classes, want[0].map((w) => w.indexOf(Math.max(...w))), `answer ${k}: classes`);
      t.deepEqual(p.perOutput![1].classes, want[1].map((w) => (w[0] >= 0.5 ? 1 : 0)), `answer ${k}: the gate's class by 0.5`);
    }
    // A token id outside the vocabulary is refused by the client, naming the input; so is a missing input.
    await t.throwsAsync(node.predict('two-in-three-out', { numbers, tokens: [[1, 9, 0, 3], [7, 7, 2, 5]] }), { message: /input 'tokens': the value at index \[0, 1\] is 9, out of range/ });
    await t.throwsAsync(browser.predict('two-in-three-out', { numbers }), { message: /missing input 'tokens'/ });
  } finally {
    browser.close();
    await node.close();
  }
});

test.serial('a page encoding with another fracBits than the cluster is told so, instead of getting wrong numbers', async (t) => {
  const other = cluster.fracBits === 12 ? 14 : 12;
  const browser = await connect(cluster.endpoints, { socket: sockets(ORIGIN), fracBits: other });
  try {
    t.is((await browser.models()).find((m) => m.name === MODEL_NAME)?.fracBits, cluster.fracBits, 'models() announces the cluster\'s fracBits');
    const input = { data: Float64Array.from(digits.images[0]), shape: [1, 784] };
    await t.throwsAsync(browser.predict(MODEL_NAME, input), { message: new RegExp(`computes with fracBits ${cluster.fracBits}, this page encoded with ${other}: connect with \\{ fracBits: ${cluster.fracBits} \\}`) });
  } finally {
    browser.close();
  }
});

test.serial('an image predicts as the same PNG does through the Node client', async (t) => {
  // A coloured, partly transparent rendering of a digit: the gray level is the RGB mean, alpha ignored.
  const rgba = new Uint8Array(784 * 4);
  digits.images[3].forEach((v, i) => rgba.set([Math.round(v * 255), Math.round(v * 250), Math.round(v * 240), 100 + (i % 100)], 4 * i));
  const image = { width: 28, height: 28, data: new Uint8ClampedArray(rgba) };
  const gray = decodePng(pngFile(28, 28, 6, rgba)).gray;
  const { imageToGray } = await import('../lib/browser');
  t.deepEqual([...imageToGray(image)], [...gray]); // the same preprocessing, bit for bit

  const browser = await connect(cluster.endpoints, { socket: sockets(ORIGIN) });
  const node = await PredictionClient.connect(cluster.config);
  try {
    const canvas = { width: 28, height: 28, getContext: () => ({ getImageData: () => image }) };
    const [b, c, n] = await Promise.all([browser.predict(MODEL_NAME, image), browser.predict(MODEL_NAME, canvas), node.predict(MODEL_NAME, { data: gray, shape: [1, 784] })]);
    t.deepEqual(b.classes, n.classes);
    t.deepEqual(c.classes, n.classes);
    t.true(maxDiff(b.data, n.data) < 0.05);
    t.is(n.classes[0], digits.labels[3]);
    // An image of another size is resized as the Node client resizes a PNG: the digit at twice
    // the size (each pixel four times) predicts as the 28x28 one.
    const big = new Uint8Array(56 * 56 * 4);
    for (let y = 0; y < 56; y++) for (let x = 0; x < 56; x++) big.set(rgba.subarray(4 * ((y >> 1) * 28 + (x >> 1)), 4 * ((y >> 1) * 28 + (x >> 1)) + 4), 4 * (y * 56 + x));
    const b2 = await browser.predict(MODEL_NAME, { width: 56, height: 56, data: new Uint8ClampedArray(big) });
    t.deepEqual(b2.classes, n.classes);
    await t.throwsAsync(browser.predict(MODEL_NAME, new Float64Array(100)), { message: /100 values are not whole examples/ });
    await t.throwsAsync(browser.predict('no-such-model', new Float64Array(784)), { message: /no-such-model.* not deployed/ });
    await t.throwsAsync(browser.predict('no-such-model', [[1, 2]]), { message: /no-such-model/ });
    await t.throwsAsync(browser.predict(MODEL_NAME, [[Number.NaN, ...new Array(783).fill(0)]]), { message: /NaN at index 0/ });
    // The client still works after refusals.
    t.deepEqual((await browser.predict(MODEL_NAME, [digits.images[0]])).classes, [digits.labels[0]]);
  } finally {
    browser.close();
    await node.close();
  }
});

test('images read alike in the page and by tfe predict: resized by area, gray or RGB as the model takes, never reinterpreted by pixel count', async (t) => {
  const { toInput } = await import('../lib/browser/input');
  const rgbaOf = (w: number, h: number) => Uint8Array.from({ length: w * h * 4 }, (_, i) => (i % 4 === 3 ? 255 : Math.floor(Math.random() * 256)));
  for (const [w, h, shape] of [[14, 56, [28, 28, 1]], [64, 48, [32, 32, 3]], [32, 32, [32, 32, 3]], [5, 5, [784]], [6, 9, [3, 3]]] as [number, number, number[]][]) {
    const rgba = rgbaOf(w, h);
    const page = toInput({ width: w, height: h, data: new Uint8ClampedArray(rgba) }, 'image', shape);
    const png = pngInput(pngFile(w, h, 6, rgba), 'x.png', shape).image;
    t.deepEqual(page.shape, [1, ...shape], `${w}x${h} for [${shape}]`);
    t.deepEqual([...page.data], [...png], `${w}x${h} for [${shape}]: as tfe predict reads the PNG`);
  }
  t.throws(() => toInput({ width: 2, height: 5, data: new Uint8ClampedArray(40) }, 'image', [10]), { message: /image: the model's input \[10\] is not an image/ });
});

test.serial('a page from an origin not in allowedOrigins is refused; a Node client without Origin is not', async (t) => {
  const err = await t.throwsAsync(connect(cluster.endpoints, { socket: sockets('http://evil.example'), connectTimeoutMs: 5000 }));
  t.regex(err!.message, /cannot connect to server\d at wss:\/\/127\.0\.0\.1:\d+: .*401/);
  t.true(await logged(/origin http:\/\/evil\.example is not allowed \(allowedOrigins/), 'the server log names the reason');
  // A server link never comes from a page.
  const fake = new WebSocket(cluster.endpoints[1], { ca, origin: ORIGIN, headers: { 'x-tfe-party': 'server0' } });
  const code = await new Promise<string>((r) => fake.on('error', (e) => r(e.message)).on('open', () => r('open')));
  t.regex(code, /401/);
  t.true(await logged(/a browser page \(origin http:\/\/127\.0\.0\.1:8123\) cannot connect as a server/));
  const node = await PredictionClient.connect(cluster.config);
  t.true((await node.models()).some((m) => m.name === MODEL_NAME));
  await node.close();
});

test.serial('a server killed mid-query rejects the prediction with a message, well before the timeout', async (t) => {
  const browser = await connect(cluster.endpoints, { socket: sockets(ORIGIN), requestTimeoutMs: 60_000 });
  const batch = Float64Array.from({ length: 784 * 256 }, (_, i) => digits.images[i % 10][i % 784]);
  const t0 = Date.now();
  const p = browser.predict(MODEL_NAME, { data: batch, shape: [256, 784] });
  setTimeout(() => cluster.procs.get('server1')!.child.kill('SIGKILL'), 30);
  const err = await t.throwsAsync(p);
  t.log(err!.message);
  t.regex(err!.message, /server1|closed|aborted|unreachable/);
  t.true(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
  // The next request fails at once, naming the server it cannot reach.
  const again = await t.throwsAsync(browser.predict(MODEL_NAME, [digits.images[0]]));
  t.log(again!.message);
  t.regex(again!.message, /server1/);
  browser.close();
  await t.throwsAsync(browser.models(), { message: /closed/ });
});
