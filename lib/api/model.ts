// Private models from TensorFlow.js's LayersModel format (model.json + weight files; Keras
// models convert to it with the standard converter). The architecture is public to the servers;
// the model owner secret-shares the weights. predict() takes a private input.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { PartyName } from '../net/transport';
import type { Cluster } from '../protocol/cluster';
import { exactProtocolsText, isExact } from '../protocol/protocols';
import { checkWeightRange, weightBound } from './bounds';
import { definePrivateInput } from './define';
import { describeInput, encodeInput, type InputEncoding, type ModelInput, sharedInputShape } from './input_encoding';
import type { HashingSpec } from './hash_bins';
import type { TextSpec } from './text_tokens';
import { configConstantsAsWeights } from './config_constants';
import { checkWeightSpecs, derive, type LayersModelJson, lowPartsAt, manifestShapes, type ModelSpec, parseTopology, type Step, unpackColumns, type WeightSpec, normalizedModelJson } from './layers_spec';
import { plainModel, type PlainModel } from './plain_forward';
import { reluLayers } from './relu_layers';
import { MAX_PLAIN_VALUES, plainAlloc } from './plain_kernels';
import { getCluster } from './session';
import { graphModelAsLayers, isGraphModel } from './graph_model';
import { checkInputShapesOption, graphWithInputShapes, type InputShapes, layersWithInputShapes } from './input_shapes';
import type { ModelTopology } from './layers_graph';
import { type AnyTensor, PrivateTensor } from './tensor';
import { tidy } from './tidy';
import { type ClientInput, toModelInput } from './client_input';
import { type Samples, verifyPrivate, type VerifyOptions, type VerifyReport } from './verify';
import type { FinalActivation } from './final_activation';

export type { LayersModelJson } from './layers_spec';

/** Reads model.json; errors name the file. */
export function readModelJson(modelPath: string): LayersModelJson {
  let j: unknown;
  try {
    // Not a regular file (a FIFO, a device) would block the read, or never end: refused first.
    if (!fs.statSync(modelPath).isFile()) throw new Error('not a regular file');
    j = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read ${modelPath}: ${(e as Error).message}`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error(`${modelPath} holds ${j === null ? 'null' : Array.isArray(j) ? 'a JSON array' : `a JSON ${typeof j}`}, not a model (a JSON object with modelTopology and weightsManifest)`);
  return j as LayersModelJson;
}

/** Whether `p` is `root` or inside it (both absolute and normalised). */
function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * Opens a weight file named by the manifest, refusing any that is not a regular file inside the
 * model's folder. model.json may come from someone else (a downloaded or uploaded model), and the
 * owner secret-shares whatever the manifest names: without this check, paths such as
 * "../../etc/passwd", "/home/owner/.ssh/id_ed25519" or a symlink to either would be shared with
 * the servers as "weights" (and decode to floats a client can read back through predictions).
 */
function openWeightFile(root: string, name: unknown): { fd: number; file: string; bytes: number } {
  if (typeof name !== 'string' || name === '' || name.includes('\0'))
    throw new Error(`weightsManifest names a weight file ${JSON.stringify(name)}: expected a file name relative to the model's folder`);
  if (path.isAbsolute(name) || path.win32.isAbsolute(name))
    throw new Error(`weight file '${name}' is an absolute path: weight files must be inside the model's folder ${root}`);
  const file = path.resolve(root, name);
  if (!inside(root, file)) throw new Error(`weight file '${name}' is outside the model's folder ${root}`);
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch (e) {
    throw new Error(`cannot read weight file '${name}': ${(e as Error).message}`);
  }
  if (!inside(root, real)) throw new Error(`weight file '${name}' is a link to ${real}, outside the model's folder ${root}`);
  // O_NOFOLLOW: the last component cannot have become a symlink since the check above.
  // O_NONBLOCK: opening a FIFO waits for a writer, forever; non-blocking, it is refused below (not a regular file).
  const fd = fs.openSync(real, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0));
  try {
    // On Linux, what was actually opened: a directory swapped for a link in between is caught too.
    if (process.platform === 'linux') {
      const opened = fs.readlinkSync(`/proc/self/fd/${fd}`);
      if (!inside(root, opened)) throw new Error(`weight file '${name}' resolves to ${opened}, outside the model's folder ${root}`);
    }
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error(`weight file '${name}' is not a regular file`);
    return { fd, file: name, bytes: st.size };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/**
 * An optimizer's state saved beside the weights (`includeOptimizer: true`: tfjs marks each such
 * entry `group: 'optimizer'`, its step counter an int32): skipped, its bytes counted. Such a model
 * was refused for a weight ('iter') the user never named.
 */
export const isOptimizerState = (w: WeightSpec): boolean => (w as { group?: unknown }).group === 'optimizer';
const SKIPPED_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1 };

/**
 * How tensorflowjs_converter --quantize_uint8/uint16/float16 stored a weight: its values' width,
 * and each value's float (tfjs's decodeWeight: q scale + min, or the half-precision float). The
 * owner dequantizes as tfjs does when it loads the model, so the model computes what tfjs computes.
 */
interface Quantized {
  bytes: 1 | 2;
  value: (q: number) => number;
}

function quantizationOf(w: WeightSpec, graph: boolean): Quantized | undefined {
  const q = (w as { quantization?: { dtype?: unknown; min?: unknown; scale?: unknown } }).quantization;
  if (q === undefined || q === null) return undefined;
  const dtype = w.dtype ?? 'float32';
  if (q.dtype === 'uint8' || q.dtype === 'uint16') {
    const { min, scale } = q;
    if (typeof min !== 'number' || typeof scale !== 'number' || !Number.isFinite(min) || !Number.isFinite(scale))
      throw new Error(`weight '${w.name}' is quantized to ${q.dtype} without finite numbers min and scale (${JSON.stringify(q)})`);
    if (dtype !== 'float32' && !(graph && dtype === 'int32')) throw new Error(`weight '${w.name}' has dtype ${dtype}; only float32 is supported`);
    // (An int32 constant of a GraphModel rounds, as tfjs does.)
    return { bytes: q.dtype === 'uint8' ? 1 : 2, value: dtype === 'int32' ? (v) => Math.round(v * scale + min) : (v) => v * scale + min };
  }
  if (q.dtype === 'float16') {
    if (dtype !== 'float32') throw new Error(`weight '${w.name}' is quantized to float16, which tfjs reads for float32 weights only, not ${dtype}`);
    return { bytes: 2, value: halfToFloat };
  }
  throw new Error(`weight '${w.name}' is quantized to ${JSON.stringify(q.dtype)}: only uint8, uint16 and float16 (tensorflowjs_converter's --quantize_*) are supported`);
}

/** IEEE 754 half precision (binary16) bits as a number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? Number.NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * A weight's bytes in its file: float32 for the model's (or its quantized width), any fixed-size
 * dtype for optimizer state; int32 and bool too in a GraphModel (`graph`), whose shapes, axes
 * and masks are constants beside its weights.
 */
function entryBytes(w: WeightSpec, graph = false): number {
  if (!Array.isArray(w.shape) || !w.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`weight '${w.name}' has shape ${JSON.stringify(w.shape)}: expected non-negative integers`);
  const dtype = w.dtype ?? 'float32';
  const quantized = isOptimizerState(w) ? undefined : quantizationOf(w, graph);
  const size = quantized ? quantized.bytes : isOptimizerState(w) ? SKIPPED_BYTES[dtype] : dtype === 'float32' || (graph && dtype === 'int32') ? 4 : graph && dtype === 'bool' ? 1 : undefined;
  if (size === undefined)
    throw new Error(isOptimizerState(w) ? `optimizer weight '${w.name}' has dtype ${dtype}, whose size is unknown: save the model without includeOptimizer` : `weight '${w.name}' has dtype ${dtype}; only float32 is supported`);
  return size * w.shape.reduce((a, b) => a * b, 1);
}

/** Checks a group's weight specs (float32, sane shapes) and returns the bytes they declare. */
function declaredBytes(weights: WeightSpec[], graph = false): number {
  return weights.reduce((a, w) => a + entryBytes(w, graph), 0);
}

/** Little-endian float32 (or quantized) weights laid out one after another, as the manifest lists them (optimizer state skipped). */
function decodeWeights(weights: WeightSpec[], bytes: Buffer, out: Map<string, { data: Float32Array; shape: number[] }>, graph = false): void {
  let offset = 0;
  for (const w of weights) {
    const size = entryBytes(w, graph);
    if (!isOptimizerState(w)) {
      const q = quantizationOf(w, graph);
      const n = w.shape.reduce((a, b) => a * b, 1);
      const data = new Float32Array(n);
      const int = w.dtype === 'int32';
      for (let i = 0; i < n; i++) {
        if (q) data[i] = q.value(q.bytes === 1 ? bytes.readUInt8(offset + i) : bytes.readUInt16LE(offset + 2 * i));
        // A GraphModel's bool constants (a causal mask's ones) as 0 and 1.
        else if (w.dtype === 'bool') data[i] = bytes.readUInt8(offset + i) ? 1 : 0;
        // A GraphModel's int32 constants are sizes and axes: exact as floats below 2^24.
        else data[i] = int ? bytes.readInt32LE(offset + 4 * i) : bytes.readFloatLE(offset + 4 * i);
        if (int && Math.abs(data[i]) > 2 ** 24) throw new Error(`int32 constant '${w.name}' element ${i} = ${data[i]} is beyond the sizes and axes a GraphModel's constants hold here`);
        // NaN has no fixed-point value: named here, or it surfaced as an encoder's error with no weight's name.
        if (Number.isNaN(data[i])) throw new Error(`weight '${w.name}' element ${i} is NaN: a model's weights must be numbers (was it trained to divergence?)`);
      }
      out.set(w.name, { data, shape: w.shape });
    }
    offset += size;
  }
}

/** Reads the float32 weights of a model, in manifest order; weight files must lie in `dir`. */
export function readWeights(json: LayersModelJson, dir: string, graph = false): Map<string, { data: Float32Array; shape: number[] }> {
  const out = new Map<string, { data: Float32Array; shape: number[] }>();
  if (!Array.isArray(json.weightsManifest)) throw new Error('weightsManifest is missing');
  let root: string;
  try {
    root = fs.realpathSync(dir);
  } catch (e) {
    throw new Error(`cannot read the model's folder: ${(e as Error).message}`);
  }
  for (const [g, group] of json.weightsManifest.entries())
    if (!Array.isArray(group?.paths) || !Array.isArray(group.weights)) throw new Error(`weightsManifest group ${g} needs 'paths' and 'weights' arrays`);
  checkWeightSpecs(json.weightsManifest.flatMap((g) => g.weights));
  for (const group of json.weightsManifest) {
    const declared = declaredBytes(group.weights, graph);
    // Check every file (and the sizes against the manifest) before reading any: a file of the
    // wrong size is a corrupt or foreign model, and the check bounds what is read to what the
    // manifest declares.
    const files: { fd: number; file: string; bytes: number }[] = [];
    try {
      if (!Array.isArray(group.paths) || group.paths.length === 0) throw new Error(`a weightsManifest group lists no weight files (paths ${JSON.stringify(group.paths)?.slice(0, 60)}) for its weights ${group.weights.map((w) => w.name).join(', ')}`);
      for (const name of group.paths) files.push(openWeightFile(root, name));
      const total = files.reduce((a, f) => a + f.bytes, 0);
      if (total !== declared)
        throw new Error(
          `weight file${files.length === 1 ? '' : 's'} ${files.map((f) => `'${f.file}' (${f.bytes} bytes)`).join(', ')} hold${files.length === 1 ? 's' : ''} ${total} bytes, but the manifest declares ${declared} bytes of weights (${group.weights.map((w) => w.name).join(', ')})`,
        );
      const bytes = Buffer.alloc(total);
      let at = 0;
      for (const f of files) {
        for (let n = 0; n < f.bytes; ) {
          const got = fs.readSync(f.fd, bytes, at, f.bytes - n, n);
          if (got === 0) throw new Error(`weight file '${f.file}' shrank while being read`);
          n += got;
          at += got;
        }
      }
      decodeWeights(group.weights, bytes, out, graph);
    } finally {
      for (const f of files) fs.closeSync(f.fd);
    }
  }
  return out;
}

/**
 * A model in memory, as TensorFlow.js hands it to a save handler (`tf.io.withSaveHandler`):
 * a tfjs user can pass a model without writing files.
 */
export interface ModelArtifacts {
  modelTopology: LayersModelJson['modelTopology'];
  weightSpecs: WeightSpec[];
  weightData: ArrayBuffer | ArrayBuffer[] | Uint8Array;
}

/** Where a model comes from: a path to model.json, a file:// URL to it, or artifacts in memory. */
export type ModelSource = string | URL | ModelArtifacts;

function modelPathOf(source: string | URL): string {
  if (source instanceof URL || source.startsWith('file://')) {
    const url = source instanceof URL ? source : new URL(source);
    if (url.protocol !== 'file:') throw new Error(`cannot load a model from ${url.href}: only paths and file:// URLs are read (fetch it and pass its artifacts)`);
    return fileURLToPath(url);
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(source)) throw new Error(`cannot load a model from ${source}: only paths and file:// URLs are read (fetch it and pass its artifacts)`);
  return source;
}

/** The model JSON (a GraphModel's before its translation) with the input sizes it left open fixed as given. */
function withInputShapes<T extends { modelTopology: unknown; signature?: unknown }>(json: T, given: InputShapes | undefined): T {
  if (!given) return json;
  checkInputShapesOption(given, 'inputShapes');
  if (isGraphModel(json as { modelTopology?: unknown })) return graphWithInputShapes(json, given, 'inputShapes');
  return { ...json, modelTopology: layersWithInputShapes(json.modelTopology as ModelTopology, given, 'inputShapes') };
}

function fromArtifacts(a: ModelArtifacts, inputShapes?: InputShapes): { json: LayersModelJson; weights: Map<string, { data: Float32Array; shape: number[] }> } {
  // A tfjs model object itself (tf.sequential(), tf.loadLayersModel's result): its artifacts are what loads.
  const o = a as unknown as { save?: unknown; layers?: unknown };
  if (o && typeof o === 'object' && typeof o.save === 'function' && Array.isArray(o.layers))
    throw new Error('this is a TensorFlow.js model object, not its artifacts: save it with tf.io.withSaveHandler and pass the artifacts it receives, or save it to files and pass the model.json path (docs/models.md, "Saving a model from TensorFlow.js in Node")');
  if (!a || typeof a !== 'object' || !a.modelTopology || !Array.isArray(a.weightSpecs) || !a.weightData)
    throw new Error('model artifacts need modelTopology, weightSpecs and weightData (what tf.io.withSaveHandler receives)');
  const parts = Array.isArray(a.weightData) ? a.weightData : [a.weightData];
  const bytes = Buffer.concat(parts.map((b) => (b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.from(b))));
  checkWeightSpecs(a.weightSpecs);
  const graph = isGraphModel(a as { modelTopology?: unknown; format?: unknown });
  const declared = declaredBytes(a.weightSpecs, graph);
  if (bytes.length !== declared) throw new Error(`weightData holds ${bytes.length} bytes, but weightSpecs declare ${declared}`);
  const weights = new Map<string, { data: Float32Array; shape: number[] }>();
  const raw = { modelTopology: a.modelTopology, weightsManifest: [{ paths: [], weights: a.weightSpecs }] };
  if (graph) {
    decodeWeights(a.weightSpecs, bytes, weights, true);
    return graphModelAsLayers(withInputShapes({ ...raw, signature: (a as { signature?: unknown }).signature }, inputShapes), weights);
  }
  const json = withInputShapes(normalizedModelJson(raw), inputShapes);
  decodeWeights(json.weightsManifest[0].weights, bytes, weights);
  return { json, weights };
}

/**
 * Weights a layer carries that inference does not read: Keras's Normalization counts the samples
 * it adapted to; BatchNormalization with renorm keeps training-time statistics (tf-keras adds
 * renorm_mean and renorm_stddev, older versions their _weight too); SpectralNormalization keeps
 * its power iteration's vector_u, which only training reads (spectral_normalization.ts).
 */
const NOT_FOR_INFERENCE = new Set(['count', 'renorm_mean', 'renorm_stddev', 'renorm_mean_weight', 'renorm_stddev_weight', 'vector_u']);

/**
 * Refuses a manifest weight that belongs to a layer the model runs but that the layer, as
 * configured, does not read (a bias beside use_bias: false, a weight of a setting the layer's
 * config lacks): tfjs itself refuses such a model ("Provided weight data has no target
 * variable"), and running without the weight would answer differently from the model it was
 * saved with, silently. Weights of layers the output does not depend on are not read either, and
 * are fine; so is optimizer state.
 */
function refuseUnreadWeights(json: LayersModelJson, spec: ModelSpec): void {
  const read = new Set<string>();
  const collect = (v: unknown): void => {
    if (typeof v === 'string') read.add(v);
    else if (v && typeof v === 'object') for (const [k, e] of Object.entries(v)) if (k !== 'kind') collect(e);
  };
  for (const p of spec.params) {
    read.add(p.weight);
    collect(p.derive);
  }
  const running = new Set(spec.layers.map((l) => l.slice(l.indexOf(':') + 1)));
  for (const w of json.weightsManifest.flatMap((g) => g.weights)) {
    if (isOptimizerState(w) || read.has(w.name)) continue;
    const parts = w.name.split('/');
    if (!running.has(parts[0]) || NOT_FOR_INFERENCE.has(parts[parts.length - 1])) continue;
    throw new Error(`weight '${w.name}' belongs to layer '${parts[0]}', which does not read it as the model configures the layer: running without it would answer differently from the model the weights were saved with (check the layer's settings, such as use_bias, against its weights)`);
  }
}

/** How a model is read: `inputShapes` fixes the input sizes it was saved with open (input_shapes.ts). */
export interface ReadOptions {
  inputShapes?: InputShapes;
}

/**
 * A parsed model: its spec, the plaintext parameters in the spec's order, and the manifest's
 * weights by name (owner only).
 */
export function readLayersModel(source: ModelSource, opts: ReadOptions = {}): {
  json: LayersModelJson;
  spec: ModelSpec;
  params: { name: string; data: Float32Array; shape: number[] }[];
  weights: Map<string, { data: Float32Array; shape: number[] }>;
  /** The derived parameters in float64 by name (the plaintext model takes them: derived once). */
  derived: Map<string, Float64Array>;
} {
  let json: LayersModelJson, weights: Map<string, { data: Float32Array; shape: number[] }>;
  if (typeof source === 'string' || source instanceof URL) {
    const modelPath = modelPathOf(source);
    const raw = readModelJson(modelPath);
    if (isGraphModel(raw)) ({ json, weights } = graphModelAsLayers(withInputShapes(raw, opts.inputShapes), readWeights(raw, path.dirname(modelPath), true)));
    else {
      json = withInputShapes(normalizedModelJson(raw), opts.inputShapes);
      weights = readWeights(json, path.dirname(modelPath));
    }
  } else ({ json, weights } = fromArtifacts(source, opts.inputShapes));
  const moved = configConstantsAsWeights(json);
  json = moved.json;
  for (const [name, w] of moved.constants) weights.set(name, w);
  const shapes = manifestShapes(json);
  const spec = parseTopology(json.modelTopology, (n) => shapes.get(n), [...shapes.keys()]);
  refuseUnreadWeights(json, spec);
  const derived = new Map<string, Float64Array>();
  for (const p of spec.params) if (p.derive) derived.set(p.weight, derive(p.derive, (n) => weights.get(n)!.data));
  const params = spec.params.map((p) => ({ name: p.weight, data: p.derive ? Float32Array.from(derived.get(p.weight)!) : weights.get(p.weight)!.data, shape: p.shape }));
  return { json, spec, params, weights, derived };
}

/**
 * The float64 plaintext of a model (plain_forward.ts): the same graph and parameters as the
 * private model, no TensorFlow.js. What `verify` compares the private model with.
 */
export function loadPlainModel(source: ModelSource, opts: ReadOptions = {}): PlainModel {
  const { json, weights, derived } = readLayersModel(source, opts);
  // Run once, as loadLayersModel and deploy do: what only an input's shape refuses is refused here too.
  return checkRuns(json, weights, 'loadPlainModel', derived);
}

/**
 * Runs the model's plaintext forward pass once on a zero input of batch 1, so that a setting only
 * an input's shape can refuse (a normalisation or softmax over another axis than the last) is
 * refused where the model is loaded or deployed, naming the layer, not at its first prediction
 * (a deploy succeeded and then every query failed). Returns the plaintext model.
 */
export function checkRuns(json: LayersModelJson, weights: Map<string, { data: Float32Array; shape: number[] }>, where: string, derived?: Map<string, Float64Array>): PlainModel {
  const plain = plainModel(json, weights, derived);
  const n = plain.inputShape.reduce((a, b) => a * b, 1);
  if (!(n <= MAX_PLAIN_VALUES)) throw new Error(`${where}: the model's input shape [${plain.inputShape}] holds ${n} values per example, more than the ${MAX_PLAIN_VALUES} one tensor may`);
  try {
    plain.forward({ data: plainAlloc(n), shape: [1, ...plain.inputShape] });
  } catch (e) {
    throw new Error(`${where}: the model cannot run: ${(e as Error).message}`);
  }
  return plain;
}

export class PrivateModel {
  constructor(
    readonly cluster: Cluster,
    readonly layers: string[],
    readonly inputShape: number[],
    private readonly steps: Step[],
    /** A softmax or sigmoid on the output that predict() leaves to the caller (it returns logits). */
    readonly finalActivation?: FinalActivation,
    /**
     * The owner's side, when the model was loaded in this process: its plaintext twin and a
     * predict that shows each layer's output to an observer (for verify).
     */
    private readonly owner?: { plain: PlainModel; trace: (x: PrivateTensor, observe: (layer: string, out: AnyTensor) => void) => AnyTensor },
    /** Set when the model starts with Embeddings: its input is token ids, shared one-hot over `oneHot` (see defineInput). */
    readonly inputEncoding?: InputEncoding,
    /** What loadLayersModel checked against the cluster's protocol, checked again by predict (setProtocol may change it). */
    private readonly needs?: ProtocolNeeds,
    /** The model's inputs and outputs (ModelSpec's), and the outputs' shapes once it has run. */
    private readonly io?: Pick<ModelSpec, 'inputs' | 'outputs' | 'outputShapes'>,
  ) {}

  /** The model's inputs in its order: name, shape of one example, encoding (one for most models). */
  get inputs(): readonly ModelInput[] {
    return this.io?.inputs ?? [{ name: 'input', inputShape: this.inputShape, ...(this.inputEncoding ? { inputEncoding: this.inputEncoding } : {}) }];
  }

  /** Set when the model's one input takes strings (read by StringLookup): defineInput sends each as its id (string_ids.ts). */
  get strings(): true | undefined {
    const inputs = this.io?.inputs;
    return inputs?.length === 1 && inputs[0].strings ? true : undefined;
  }

  /** Set when a Hashing reads the model's one input: defineInput sends its values' bins (hash_bins.ts). */
  get hashing(): HashingSpec | undefined {
    const inputs = this.io?.inputs;
    return inputs?.length === 1 ? inputs[0].hashing : undefined;
  }

  /** Set when a TextVectorization reads the model's one input: defineInput sends each text's tokens' ids (text_tokens.ts). */
  get text(): TextSpec | undefined {
    const inputs = this.io?.inputs;
    return inputs?.length === 1 ? inputs[0].text : undefined;
  }

  /** The model's outputs in its order: the layer call, and the softmax or sigmoid predict leaves to the caller. */
  get outputs(): readonly { name: string; finalActivation?: FinalActivation }[] {
    return this.io?.outputs ?? [{ name: 'output', ...(this.finalActivation ? { finalActivation: this.finalActivation } : {}) }];
  }

  /**
   * `player` secret-shares its input for this model, what `provider` returns, taken as the
   * service's clients take a prediction's (client_input.ts): nested arrays, {data, shape} or a
   * tfjs tensor ([batch, ...inputShape]), a typed array of whole examples, an image for an image
   * model; token ids one-hot encoded first when the model starts with an Embedding. A model with
   * several inputs takes a list of them in its order (`inputs`) or an object by input name.
   */
  defineInput(player: PartyName, provider: () => ClientInput): PrivateTensor {
    const what = `${player}'s input`;
    return definePrivateInput(player, () => encodeInput(toModelInput(provider(), what, this), this, what), this.cluster);
  }

  /**
   * Runs the model on a private input; returns the private output (logits if softmax or sigmoid
   * was last). A model with several outputs: predictOutputs.
   */
  predict(x: PrivateTensor): AnyTensor {
    if (this.outputs.length > 1) throw new Error(`predict: the model has ${this.outputs.length} outputs (${this.outputs.map((o) => `'${o.name}'`).join(', ')}): use predictOutputs, which returns one private tensor per output`);
    return this.run(x, 'predict');
  }

  /** Runs the model on a private input; returns one private tensor per output, in the model's order (each before its final softmax or sigmoid, as predict). */
  predictOutputs(x: PrivateTensor): AnyTensor[] {
    if (this.outputs.length === 1) return [this.run(x, 'predictOutputs')];
    // Packed by the model (layers_spec.ts packOutputs): each output's columns, in its shape; the
    // packed tensor is freed with the other intermediates.
    return tidy(() => unpackColumns(this.run(x, 'predictOutputs'), this.io!.outputShapes!));
  }

  private run(x: PrivateTensor, where: string): AnyTensor {
    if (!(x instanceof PrivateTensor))
      throw new TypeError(`${where}: takes a private input, which a player shares: model.defineInput(player, () => x) or tfe.definePrivateInput(player, () => x); got ${describeValue(x)}`);
    if (this.needs) checkProtocolNeeds(this.needs, this.cluster, where);
    // Every input's shape is checked, as tf.predict and the service do: a conv net followed by a
    // global pool answered an input of another size. Token ids shared as they are
    // (definePrivateInput, not defineInput) would be multiplied into the table as if they were a
    // one-hot: refused by shape too.
    const want = sharedInputShape(this);
    if (x.shape.length !== want.length + 1 || want.some((d, i) => d !== x.shape[i + 1]))
      throw new Error(`${where}: the model takes ${describeInput(this)}, got a private input of shape [${x.shape}]${this.inputEncoding ? '; share the ids with model.defineInput, which one-hot encodes them' : ''}`);
    // As TensorFlow.js's predict: every tensor made on the way is freed once the output is ready
    // (they held each layer's shares on every party until the garbage collector ran); the caller
    // owns the output (and the input).
    return tidy(() => this.steps.reduce<AnyTensor>((h, step) => step(h), x));
  }

  /**
   * Runs `samples` privately and through the float64 plaintext of the same model, side by side,
   * and reports argmax agreement, the largest |logit difference| and the KL divergence (see
   * VerifyReport). `debugRanges` also reveals each layer's largest |value| to the client (only
   * when asked) and warns when it nears the ring's limit for the cluster's fracBits. Needs the
   * model loaded in this process by loadLayersModel (the plaintext weights).
   */
  verify(samples: Samples, opts: VerifyOptions = {}): Promise<VerifyReport> {
    const owner = this.owner;
    if (!owner) return Promise.reject(new Error('verify needs the plaintext model: load it in this process with loadLayersModel'));
    if (this.outputs.length > 1) return Promise.reject(new Error(`verify compares one output's classes and logits, and the model has ${this.outputs.length} outputs: compare predictOutputs with the plaintext model's (tfe.loadPlainModel(...).predictOutputs) instead`));
    return verifyPrivate(this.cluster, owner.plain, { predict: (x) => this.predict(x), trace: owner.trace }, samples, opts);
  }
}

/**
 * Loads a TensorFlow.js LayersModel (a path or file:// URL to model.json, or the artifacts
 * tf.io.withSaveHandler gives) as a private model: the weights are
 * secret-shared by `owner` (default 'model-owner'). Sequential and Functional models (any DAG,
 * several inputs and outputs, shared layers, nested models) with the layers and settings of
 * docs/models.md; a final softmax or sigmoid is left to the client. Anything else, and any setting that cannot be honoured, is refused,
 * naming the layer and the setting. A model whose non-linearities only an exact protocol runs
 * (max pooling, relu6, leaky relu, ...) is refused on a Pond cluster, and so is one with relu
 * unless `uncalibrated` consents to relu's default polynomial.
 */
export function loadLayersModel(source: ModelSource, opts: LoadOptions = {}): PrivateModel {
  checkLoadOptions(opts);
  const cluster = opts.cluster ?? getCluster();
  if (opts.uncalibrated && isExact(cluster.protocol)) throw new Error(`loadLayersModel: uncalibrated applies to Pond only: ${cluster.protocol} computes relu exactly`);
  let model: ReturnType<typeof readLayersModel>;
  try {
    model = readLayersModel(source, { inputShapes: opts.inputShapes });
  } catch (e) {
    throw new Error(`loadLayersModel: ${(e as Error).message}`);
  }
  const { spec, json, weights } = model;
  const plain = checkRuns(json, weights, 'loadLayersModel', model.derived);
  const needs: ProtocolNeeds = { exactOnly: spec.needsSecureNN ? spec.exactOnlyLayers : [], relus: reluLayers(json), uncalibrated: opts.uncalibrated === true };
  checkProtocolNeeds(needs, cluster, 'loadLayersModel');
  const f = cluster.fixed.fracBits;
  const params = lowPartsAt(model.params, spec.params, f);
  checkWeightRange(params, f, 'loadLayersModel');
  const shared = (params.length ? definePrivateInput(opts.owner ?? 'model-owner', () => params.map((p) => ({ data: p.data, shape: p.shape })), cluster) : []).map((w) => w.withBound(weightBound(f)));
  // predict's steps may apply an activation after the max pool it feeds (ModelSpec.poolFirst);
  // verify's trace runs every layer in the model's order, to compare each with plaintext's.
  const steps = spec.build(shared);
  let observer: ((layer: string, out: AnyTensor) => void) | undefined;
  const traced = spec.build(shared, (layer, out) => observer?.(layer, out));
  const trace = (x: PrivateTensor, observe: (layer: string, out: AnyTensor) => void): AnyTensor => {
    observer = observe;
    try {
      return traced.reduce<AnyTensor>((h, step) => step(h), x);
    } finally {
      observer = undefined;
    }
  };
  return new PrivateModel(cluster, spec.layers, spec.inputShape, steps, spec.finalActivation, { plain, trace }, spec.inputEncoding, needs, spec);
}

export interface LoadOptions {
  /** The cluster the model runs on (default: getCluster()). */
  cluster?: Cluster;
  /** The player who shares the weights (default 'model-owner'). */
  owner?: string;
  /**
   * Pond only: run a model with relu with relu's default polynomial (right on [-4, 4] only), as
   * `tfe deploy --uncalibrated` does; without it such a model is refused under Pond. Calibration
   * is a deploy's (PredictionClient.deploy's calibrate, `tfe deploy --calibrate`).
   */
  uncalibrated?: boolean;
  /**
   * Sizes for the inputs the model was saved with open (Input(shape=(None,))): one shape after the
   * batch axis, such as [128], or shapes by input name. The model runs at that shape.
   */
  inputShapes?: InputShapes;
}

const LOAD_OPTIONS: Record<keyof LoadOptions, true> = { cluster: true, owner: true, uncalibrated: true, inputShapes: true };

function checkLoadOptions(opts: LoadOptions): void {
  if (opts === null || typeof opts !== 'object') throw new TypeError('loadLayersModel: options must be an object such as { cluster }');
  for (const key of Object.keys(opts))
    if (!(key in LOAD_OPTIONS))
      throw new TypeError(`loadLayersModel: unknown option '${key}'${key === 'protocol' ? ' (the protocol is the cluster\'s: new tfe.Cluster({ protocol }))' : ''}; the options are ${Object.keys(LOAD_OPTIONS).join(', ')}`);
  if (opts.uncalibrated !== undefined && typeof opts.uncalibrated !== 'boolean') throw new TypeError(`loadLayersModel: uncalibrated must be true or false, got ${JSON.stringify(opts.uncalibrated)}`);
}

/** What a model needs of its cluster's protocol: the layers only an exact one runs, its relus, and the owner's consent to Pond's polynomial. */
interface ProtocolNeeds {
  exactOnly: string[];
  relus: string[];
  uncalibrated: boolean;
}

/** Refuses a protocol that cannot run the model as the owner agreed (at load, and at each predict: setProtocol changes a cluster's). */
function checkProtocolNeeds(needs: ProtocolNeeds, cluster: Cluster, where: string): void {
  if (isExact(cluster.protocol)) return;
  if (needs.exactOnly.length)
    throw new Error(`${where}: the model compares values (${needs.exactOnly.join(', ')}), which the ${cluster.protocol} protocol cannot do exactly; use an exact protocol: ${exactProtocolsText()}`);
  if (needs.relus.length && !needs.uncalibrated)
    throw new Error(
      `${where}: the model has relu (${needs.relus.slice(0, 4).join(', ')}${needs.relus.length > 4 ? ', ...' : ''}), and ${cluster.protocol} replaces relu by a polynomial that is wrong outside [-4, 4]: ` +
        `use an exact protocol (${exactProtocolsText()}), deploy it calibrated on your inputs (PredictionClient.deploy's calibrate, tfe deploy --calibrate), or load it with { uncalibrated: true } to run the default polynomial anyway`,
    );
}

/** What a value is, for an error: a TensorFlow.js tensor, an array, a typed array, a public tensor... */
function describeValue(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return 'an array (share it first)';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} (share it first)`;
  const o = v as { constructor?: { name?: string }; dataSync?: unknown };
  if (typeof o.dataSync === 'function') return 'a TensorFlow.js tensor (share it first)';
  if (o.constructor?.name === 'PublicTensor') return 'a public tensor: the model takes a private input';
  return typeof v === 'object' ? `an object (${o.constructor?.name ?? 'Object'})` : `a ${typeof v}`;
}
