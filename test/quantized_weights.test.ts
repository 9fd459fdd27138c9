// Quantized weights (tensorflowjs_converter --quantize_uint8, --quantize_uint16,
// --quantize_float16) load: the owner dequantizes them as TensorFlow.js does when it loads the
// model (q scale + min; half-precision floats), so the model computes what tfjs computes. tfjs
// itself, loading the same quantized artifacts, is the reference; the quantizer here is the
// converter's (per weight: min and scale over its values, rounded to the nearest step).
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';

import test from 'ava';

import * as tfe from '../lib';
import { cnn, reference } from './helpers/graph_models';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const tf: any = createRequire(__filename)('@tensorflow/tfjs');
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, k) => Math.max(m, Math.abs(v - b[k])), 0);

interface Spec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number };
}

/** The converter's quantization of float32 weights (int32 ones kept): bytes and specs. */
function quantize(specs: Spec[], data: ArrayBuffer, to: 'uint8' | 'uint16' | 'float16'): { weightSpecs: Spec[]; weightData: ArrayBuffer } {
  const parts: Buffer[] = [];
  let at = 0;
  const out = specs.map((w) => {
    const n = w.shape.reduce((a, d) => a * d, 1);
    const raw = Buffer.from(data, at, 4 * n);
    at += 4 * n;
    if (w.dtype !== 'float32') return parts.push(Buffer.from(raw)), w;
    const v = Float32Array.from({ length: n }, (_, i) => raw.readFloatLE(4 * i));
    if (to === 'float16') {
      parts.push(Buffer.from(new Uint16Array(Array.from(v, toHalf)).buffer));
      return { ...w, quantization: { dtype: 'float16' } };
    }
    const levels = to === 'uint8' ? 255 : 65535;
    const min = Math.min(...v, 0), max = Math.max(...v, 0), scale = max > min ? (max - min) / levels : 1;
    const q = Array.from(v, (x) => Math.round((x - min) / scale));
    parts.push(Buffer.from((to === 'uint8' ? Uint8Array.from(q) : Uint16Array.from(q)).buffer));
    return { ...w, quantization: { dtype: to, min, scale } };
  });
  const all = Buffer.concat(parts);
  return { weightSpecs: out, weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength) };
}

/** float32 -> IEEE half bits (round to nearest even, as numpy's astype(float16)). */
function toHalf(x: number): number {
  const f = new Float32Array([x]), u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000, e = ((u >>> 23) & 0xff) - 127 + 15, m = u & 0x7fffff;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const mm = (m | 0x800000) >> (1 - e);
    return sign | ((mm + 0xfff + ((mm >> 13) & 1)) >> 13);
  }
  const r = (e << 10) | (m >> 13), rest = m & 0x1fff;
  return sign | (rest > 0x1000 || (rest === 0x1000 && r & 1) ? r + 1 : r);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function artifactsOf(model: any): Promise<any> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let a: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  await model.save(tf.io.withSaveHandler(async (x: any) => ((a = x), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
  return a;
}

function convNet() {
  const L = tf.layers;
  return tf.sequential({ layers: [L.conv2d({ inputShape: [6, 6, 2], filters: 4, kernelSize: 3, activation: 'relu' }), L.flatten(), L.dense({ units: 5, biasInitializer: 'randomNormal' })] });
}

for (const to of ['uint8', 'uint16', 'float16'] as const)
  test(`a LayersModel quantized to ${to} computes what TensorFlow.js computes from the same files, in plaintext and privately`, async (t) => {
    const a = await artifactsOf(convNet());
    const q = { ...a, ...quantize(a.weightSpecs, a.weightData, to) };
    const x = Float64Array.from({ length: 2 * 72 }, () => Math.random() * 2 - 1);
    const tfModel = await tf.loadLayersModel(tf.io.fromMemory(q));
    const want = Float64Array.from(await tfModel.predict(tf.tensor(Float32Array.from(x), [2, 6, 6, 2])).data());
    // The quantization shows (tfjs on the float weights answers otherwise): matching the reference
    // is reading the quantized values as tfjs does, not ignoring the quantization.
    const float = Float64Array.from(await (await tf.loadLayersModel(tf.io.fromMemory(a))).predict(tf.tensor(Float32Array.from(x), [2, 6, 6, 2])).data());
    t.true(maxDiff(float, want) > 1e-6, `quantized to ${to}: ${maxDiff(float, want)} from the float model`);
    const plain = tfe.loadPlainModel(q).predict({ data: x, shape: [2, 6, 6, 2] }) as { data: Float64Array };
    t.true(maxDiff(plain.data, want) < 1e-5, `plaintext ${[...plain.data].slice(0, 5)} vs tfjs ${[...want].slice(0, 5)}`);
    const c = new tfe.Cluster();
    try {
      const m = tfe.loadLayersModel(q, { cluster: c });
      const y = await tfe.defineOutput('prediction-client', m.predict(m.defineInput('prediction-client', () => ({ data: x, shape: [2, 6, 6, 2] }))));
      t.true(maxDiff(y.data, want) < 5e-3, `securenn ${[...y.data].slice(0, 5)} vs tfjs ${[...want].slice(0, 5)}`);
    } finally {
      await c.close();
    }
    // ...and the same from files: the bytes a quantized weight takes are its width's.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tfe-quantized-'));
    fs.writeFileSync(path.join(dir, 'w.bin'), Buffer.from(q.weightData));
    fs.writeFileSync(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: q.modelTopology, weightsManifest: [{ paths: ['w.bin'], weights: q.weightSpecs }] }));
    const fromFiles = tfe.loadPlainModel(path.join(dir, 'model.json')).predict({ data: x, shape: [2, 6, 6, 2] }) as { data: Float64Array };
    t.deepEqual([...fromFiles.data], [...plain.data]);
  });

test('half-precision edge values decode as TensorFlow.js decodes them (subnormals, the largest, signed zero)', async (t) => {
  const a = await artifactsOf(tf.sequential({ layers: [tf.layers.dense({ inputShape: [8], units: 1, useBias: false })] }));
  const halves = [0x0001, 0x03ff, 0x0400, 0x3c00, 0x7bff, 0x8000, 0xc000, 0x83ff];
  const bytes = Buffer.from(Uint16Array.from(halves).buffer);
  const q = { ...a, weightSpecs: [{ ...a.weightSpecs[0], quantization: { dtype: 'float16' } }], weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) };
  const tfModel = await tf.loadLayersModel(tf.io.fromMemory(q));
  const kernel = Array.from(await tfModel.getWeights()[0].data() as Float32Array);
  // One-hot inputs read the kernel back, value by value.
  const eye = Float64Array.from({ length: 64 }, (_, i) => (i % 9 === 0 ? 1 : 0));
  const got = tfe.loadPlainModel(q).predict({ data: eye, shape: [8, 8] }) as { data: Float64Array };
  // (-0 comes out of the product as 0, in any model: compared as numbers)
  t.deepEqual([...got.data], kernel.map((v) => v + 0));
});

test('a GraphModel with quantized constants computes what TensorFlow.js computes from the same files', async (t) => {
  const { g, out } = cnn();
  const { artifacts } = g.save({ output_0: out }, { input_1: 'input_1' });
  const q = { ...artifacts, ...quantize(artifacts.weightSpecs as Spec[], artifacts.weightData, 'uint8') };
  const x = Float64Array.from({ length: 192 }, () => Math.random() * 2 - 1);
  const want = await reference(q, x, [1, 8, 8, 3]);
  const got = tfe.loadPlainModel(q as unknown as tfe.ModelArtifacts).predict({ data: x, shape: [1, 8, 8, 3] }) as { data: Float64Array };
  t.true(maxDiff(got.data, want) < 1e-5, `${[...got.data]} vs tfjs ${[...want]}`);
});

test('quantizations TensorFlow.js does not read are refused, naming the weight', async (t) => {
  const a = await artifactsOf(tf.sequential({ layers: [tf.layers.dense({ inputShape: [2], units: 2 })] }));
  const withQ = (quantization: object) => ({ ...a, weightSpecs: a.weightSpecs.map((w: Spec, i: number) => (i === 0 ? { ...w, quantization } : w)) });
  t.throws(() => tfe.loadPlainModel(withQ({ dtype: 'uint8' })), { message: /weight '.*kernel' is quantized to uint8 without finite numbers min and scale/ });
  t.throws(() => tfe.loadPlainModel(withQ({ dtype: 'uint8', min: 0, scale: Number.NaN })), { message: /without finite numbers min and scale/ });
  t.throws(() => tfe.loadPlainModel(withQ({ dtype: 'int4', min: 0, scale: 1 })), { message: /weight '.*kernel' is quantized to "int4": only uint8, uint16 and float16/ });
});
