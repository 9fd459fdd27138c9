// A LayersModel topology as a graph of layer calls: Sequential models are chains; Functional
// models (tfjs and Keras 2 `inbound_nodes` as nested arrays, Keras 3 as `keras_history` objects)
// any DAG of layer calls: several inputs and outputs, and layers called more than once (shared
// layers: one node per call, the same weights). Everything outside that is refused here, by name.

import type { OperationNote } from './keras_operations';
import { isOpsModule, maskNoteOf } from './keras3_masks';

export interface LayerConfig {
  class_name: string;
  config: Record<string, unknown> & { name: string };
  /** A Functional model's entry repeats config.name here (TF.js's loader requires it). */
  name?: string;
  inbound_nodes?: unknown;
  /**
   * Set by graphOf: the call's keyword arguments that are not tensors (attention's
   * use_causal_mask, return_attention_scores, training...), for the layers that read them.
   */
  callArgs?: Record<string, unknown>;
  /** Set by keras_operations.ts on a layer made of a tensor operation: what its inputs must be. */
  operation?: OperationNote;
}

/** Tensor arguments a layer call may pass by keyword, appended to its inputs in this order (attention's value and key). */
const TENSOR_KWARGS = ['value', 'key'];

/** How errors name a layer: its name and class (and the operation it was made of: keras_operations.ts). */
export function layerLabel(l: LayerConfig): string {
  return `layer '${l.config.name}' (${l.class_name}${l.operation ? `, made of the operation ${l.operation.name}` : ''})`;
}

/** Refuses a layer: the message names it and its class. */
export function refuse(l: LayerConfig, msg: string): never {
  throw new Error(`${layerLabel(l)}: ${msg}`);
}

/**
 * Refuses a weight whose shape disagrees with the layer's settings (`expected`: null where any
 * size goes): a kernel of another size than kernel_size or units would run as it is, silently.
 */
export function expectShape(l: LayerConfig, weight: string, shape: readonly number[], expected: readonly (number | null)[], why: string): void {
  if (shape.length !== expected.length || expected.some((d, i) => d !== null && d !== shape[i]))
    refuse(l, `weight '${weight}' has shape [${shape}], expected [${expected.map((d) => d ?? '_')}] (${why})`);
}

export interface ModelTopology {
  /** 'tfjs-layers 4.22.0', '2.15.0', '3.5.0'... (what saved it; Keras 3 changed hard_sigmoid). */
  keras_version?: unknown;
  class_name?: string;
  config?: { layers?: LayerConfig[]; input_layers?: unknown; output_layers?: unknown; output_names?: unknown } | LayerConfig[];
  model_config?: { class_name: string; config: { layers: LayerConfig[]; input_layers?: unknown; output_layers?: unknown; output_names?: unknown } };
}

/**
 * One layer call. `id` is the layer's name for its first call and name[k] for its call k (a
 * shared layer's later calls); `inputs` are the ids of the calls whose (single) output it takes.
 */
export interface LayerNode {
  layer: LayerConfig;
  inputs: string[];
  id: string;
  /** Which call of the layer this is (0 for all but a shared layer's later calls). */
  call: number;
}

/** The id of call `call` of layer `name` (LayerNode.id). */
export const nodeId = (name: string, call: number): string => (call === 0 ? name : `${name}[${call}]`);

/**
 * The id of output k of a layer call: the call's own id for its first output, `id#k` for the
 * others (a recurrent layer's states with return_state: outputCount). The runners keep each
 * output of such a call under its id.
 */
export const outputId = (id: string, k: number): string => (k === 0 ? id : `${id}#${k}`);

/** A layer call's id and output number from an id outputId made (an id of a call itself: output 0). */
export function splitOutputId(id: string, isCall: (id: string) => boolean): { call: string; output: number } {
  const m = /^(.*)#(\d+)$/.exec(id);
  return !isCall(id) && m && isCall(m[1]) ? { call: m[1], output: Number(m[2]) } : { call: id, output: 0 };
}

const RECURRENT = new Set(['SimpleRNN', 'LSTM', 'GRU', 'ConvLSTM1D', 'ConvLSTM2D', 'ConvLSTM3D']);
/** The layers whose state is h and c. */
const TWO_STATES = new Set(['LSTM', 'ConvLSTM1D', 'ConvLSTM2D', 'ConvLSTM3D']);

/** How many tensors a layer's call returns: a recurrent layer with return_state its output and states (LSTM: h and c). */
export function outputCount(l: LayerConfig): number {
  if (!RECURRENT.has(l.class_name) || l.config.return_state !== true) return 1;
  return TWO_STATES.has(l.class_name) ? 3 : 2;
}

/** The states a recurrent layer's call starts from (initial_state): LSTM h and c, the others h. */
export const stateCount = (l: LayerConfig): number => (TWO_STATES.has(l.class_name) ? 2 : 1);

/** One of the model's inputs: the id of its node (an InputLayer, or '' for a Sequential without one) and its shape without the batch dimension. */
export interface GraphInput {
  id: string;
  /** What a client names it by, where not its id: a Keras 3 dict's key. */
  name?: string;
  shape: number[];
  /** Its InputLayer's dtype is string: a client sends each string as its id (string_ids.ts), read by StringLookup layers only. */
  strings?: true;
}

export interface LayerGraph {
  /** In an order where every node comes after its inputs. */
  nodes: LayerNode[];
  /** The model's inputs, in its input_layers order (one for a Sequential model). */
  inputs: GraphInput[];
  /** The ids of the nodes whose outputs the model returns, in its output_layers order. */
  outputs: string[];
  /**
   * The outputs' names as tfjs's model.outputNames gives them: the layer each output_layers entry
   * names (a nested model's own name, kept by nested_models.ts in `output_names`, before it was
   * taken apart). Two outputs of one layer share its name.
   */
  outputNames: string[];
  /**
   * Saved by Keras 3 (its keras_version, or its `keras_history` form of layer calls): some names
   * mean other functions there (hard_sigmoid is relu6(x + 3) / 6, not clip(0.2 x + 0.5, 0, 1)).
   */
  keras3: boolean;
  /**
   * Saved by TensorFlow.js (keras_version 'tfjs-layers ...'): its own predictions are what the
   * owner checks the model against, and some of its layers ignore a setting Keras applies
   * (DepthwiseConv2D's dilation_rate).
   */
  tfjs: boolean;
  /**
   * A GraphModel's translation (graph_model.ts, keras_version GRAPH_MODEL_VERSION): its calls name
   * every layer that applies a padding mask (a note in the call's `mask` argument), and those are
   * the only ones that do (layers_mask.ts); no mask travels by Keras's rules.
   */
  explicitMasks: boolean;
}

/** The keras_version of a GraphModel's translation (graph_model.ts). */
export const GRAPH_MODEL_VERSION = 'tfe-graph-model';

const FUNCTIONAL = new Set(['Model', 'Functional']);

/** The batch shape a layer's config declares, under any of its spellings (tfjs, Keras 2, Keras 3). */
export function batchShapeOf(c: Record<string, unknown>): unknown {
  return c.batch_input_shape ?? c.batchInputShape ?? c.batch_shape;
}

function inputShapeOf(c: Record<string, unknown>, where: string): number[] {
  const batchShape = batchShapeOf(c) as (number | null)[] | undefined;
  if (!Array.isArray(batchShape)) throw new Error(`${where} has no batch_input_shape (or batch_shape)`);
  const shape = batchShape.slice(1).map(Number);
  if (!shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    // A Keras text model is often saved with its sequence length open (Input(shape=(None,))).
    const open = batchShape.slice(1).some((d) => d === null) ? `; a size left open (null) is fixed where the model is read: inputShapes (loadLayersModel, loadPlainModel, deploy) or --input-shape (tfe deploy, verify, calibrate), such as [${batchShape.slice(1).map((d) => d ?? 128)}], or save the model with a fixed one (Input(shape=(length, ...)) in Keras)` : '';
    throw new Error(`${where}: input shape ${JSON.stringify(batchShape.slice(1))} (after the batch) must be positive integers: every dimension known, as the servers size each query by it${open}`);
  }
  return shape;
}

/** Layers that merge two or more inputs (Subtract and Dot exactly two). */
const MERGES = new Set(['Add', 'Subtract', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate', 'Dot']);
/** Layers that take query, value and optionally key. */
const ATTENTIONS = new Set(['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'AdditiveAttention']);

/** Layers of two inputs that are not merges (InceptionResNetV2's CustomScaleLayer: x0 + x1 scale). */
const TWO_INPUTS = new Set(['CustomScaleLayer']);
/** Layers that cross two or more features (their ids: layers_crossing.ts). */
const CROSSINGS = new Set(['HashedCrossing']);
/** The layer classes the private model plans (layers_catalog.ts fills it when it loads). */
export const KNOWN_LAYERS = new Set<string>();

/**
 * Refuses a call with another number of inputs than the layer takes: every other layer reads
 * one, so a second (an RNN's initial_state, say) would be dropped and the answer wrong.
 */
function checkArity(l: LayerConfig, n: number, where: string): void {
  // A recurrent layer: its input, or its input and initial_state (LSTM: h and c).
  const recurrent = RECURRENT.has(l.class_name);
  if (recurrent && n === 1 + stateCount(l)) return;
  // A class no reader knows is refused where its plan is made (layers_catalog.ts), as not supported:
  // its arity here would be a guess.
  if (KNOWN_LAYERS.size > 0 && !KNOWN_LAYERS.has(l.class_name)) return;
  const [lo, hi] = MERGES.has(l.class_name) ? (['Subtract', 'Dot'].includes(l.class_name) ? [2, 2] : [2, Infinity]) : ATTENTIONS.has(l.class_name) ? [2, 3] : TWO_INPUTS.has(l.class_name) ? [2, 2] : l.class_name === 'TfeStack' || l.class_name === 'TFDConcat' ? [1, Infinity] : CROSSINGS.has(l.class_name) ? [2, Infinity] : [1, 1];
  if (n < lo || n > hi) {
    const takes = hi === Infinity ? `${lo} or more inputs` : lo === hi ? `${lo} input${lo > 1 ? 's' : ''}` : `${lo} to ${hi} inputs`;
    const what = recurrent ? ` (or its input and initial_state: ${stateCount(l) === 2 ? 'h and c' : 'h'})` : l.class_name === 'Bidirectional' ? ' (an initial_state is not supported)' : '';
    throw new Error(`${where} is called with ${n} input tensors, but takes ${takes}${what}`);
  }
}

function checkLayers(layers: unknown): LayerConfig[] {
  if (!Array.isArray(layers)) throw new Error('the topology has no layer list');
  if (layers.length === 0) throw new Error('the model has no layers');
  const seen = new Set<string>();
  for (const [i, l] of (layers as LayerConfig[]).entries()) {
    if (!l || typeof l.class_name !== 'string' || !l.config || typeof l.config.name !== 'string') throw new Error(`layer ${i} of the topology${typeof l?.class_name === 'string' ? ` (${l.class_name.slice(0, 40)})` : ''} lacks ${typeof l?.class_name !== 'string' ? 'class_name' : 'config.name'}`);
    // Keras 3 saves `x * 0.5` or `ops.maximum(x, 0)` as an operation node whose class name is a
    // merge layer's (Multiply, Maximum...) with the constant among its arguments. Every reader
    // rewrites them as layers first (keras_operations.ts): one left here came another way (a
    // deploy request that skipped it), and would run as the merge layer.
    const module = (l as { module?: unknown }).module;
    if (isOpsModule(module))
      throw new Error(`layer '${l.config.name}' is a Keras operation (${module}.${l.class_name}), not a layer: a topology must have its operations rewritten as layers before it is read (lib/api/keras_operations.ts; loadLayersModel and the owner's deploy do so)`);
    if (seen.has(l.config.name)) throw new Error(`two layers are named '${l.config.name}'`);
    seen.add(l.config.name);
  }
  return layers as LayerConfig[];
}

/**
 * A tensor reference in either format ([name, node, index] or Keras 3's __keras_tensor__) as the
 * id of the layer call it names (outputId: with `#k` for its output k > 0), or undefined.
 */
function tensorRef(v: unknown, where: string): string | undefined {
  const take = (name: unknown, node: unknown, index: unknown): string => {
    if (!Number.isSafeInteger(node) || (node as number) < 0) throw new Error(`${where}: takes call ${JSON.stringify(node)} of '${String(name)}', which is not a call number`);
    const k = index ?? 0;
    if (!Number.isSafeInteger(k) || (k as number) < 0) throw new Error(`${where}: takes output ${JSON.stringify(index)} of '${String(name)}', which is not an output number`);
    return outputId(nodeId(String(name), node as number), k as number);
  };
  if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'number') return take(v[0], v[1], v[2]);
  const o = v as Record<string, unknown> | null;
  const hist = o && typeof o === 'object' ? (o.config as Record<string, unknown> | undefined)?.keras_history : undefined;
  if (o && o.class_name === '__keras_tensor__' && Array.isArray(hist)) return take(hist[0], hist[1], hist[2]);
  return undefined;
}

/**
 * The layer calls an inbound node refers to (their ids), in order (both serialisation formats), then the
 * tensors passed by keyword (TENSOR_KWARGS; any other tensor keyword, a mask, is refused), and
 * the call's other keyword arguments.
 */
function inboundCall(node: unknown, where: string): { names: string[]; kwargs: Record<string, unknown> } {
  const out: string[] = [];
  const states: string[] = [];
  const kwargs: Record<string, unknown> = {};
  const takeKwargs = (k: unknown): void => {
    if (!k || typeof k !== 'object' || Array.isArray(k)) return;
    const byKey = new Map<string, string>();
    for (const [key, v] of Object.entries(k as Record<string, unknown>)) {
      // A recurrent layer's initial_state: a list of tensors, after its input (as tf-keras and
      // tfjs save them: among the call's inputs).
      // (Keras 3 also takes a single state as itself, not in a list.)
      const list = Array.isArray(v) ? v : [v];
      if (key === 'initial_state' && list.length > 0 && list.every((e) => tensorRef(e, where) !== undefined)) {
        states.push(...list.map((e) => tensorRef(e, where)!));
        continue;
      }
      const t = tensorRef(v, where);
      if (t === undefined) kwargs[key] = v;
      else if (TENSOR_KWARGS.includes(key)) byKey.set(key, t);
      else throw new Error(`${where}: is called with a tensor as '${key}'; masks and other tensor arguments are not supported`);
    }
    for (const key of TENSOR_KWARGS) if (byKey.has(key)) out.push(byKey.get(key)!);
  };
  const walk = (v: unknown): void => {
    // Keras 3 keeps a call's constant arguments among its tensors (`layer(x, 0.5)`): refused, not dropped.
    if (v !== null && typeof v !== 'object') throw new Error(`${where}: is called with the constant ${JSON.stringify(v)} among its inputs, which is not supported`);
    const t = tensorRef(v, where);
    if (t !== undefined) {
      out.push(t);
      // tfjs / Keras 2: [layerName, nodeIndex, tensorIndex, kwargs]
      if (Array.isArray(v)) takeKwargs(v[3]);
      return;
    }
    if (Array.isArray(v)) {
      for (const e of v) walk(e);
      return;
    }
    if (v && typeof v === 'object' && 'args' in (v as object)) {
      walk((v as { args: unknown }).args);
      takeKwargs((v as { kwargs?: unknown }).kwargs);
    }
  };
  walk(node);
  return { names: [...out, ...states], kwargs };
}

/**
 * Every tensor reference in a layer call or any part of one (both serialisations): the
 * [name, node, tensor, kwargs] arrays, tensors passed by keyword inside their kwargs included, and
 * Keras 3's keras_history arrays. The arrays themselves, so that a caller may rewrite them.
 */
export function refsIn(v: unknown, out: unknown[][] = []): unknown[][] {
  if (Array.isArray(v)) {
    if (typeof v[0] === 'string' && typeof v[1] === 'number') {
      out.push(v);
      for (const e of v.slice(3)) refsIn(e, out);
    } else for (const e of v) refsIn(e, out);
  } else if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const hist = (o.config as Record<string, unknown> | undefined)?.keras_history;
    if (o.class_name === '__keras_tensor__' && Array.isArray(hist)) out.push(hist);
    else for (const e of Object.values(o)) refsIn(e, out);
  }
  return out;
}

/** The single [name, 0, 0] of input_layers / output_layers; `owner` names the model in the error. */
export function endpoint(v: unknown, what: string, owner = 'the model'): string {
  const list = Array.isArray(v) && typeof v[0] === 'string' ? [v] : (v as unknown[]);
  if (!Array.isArray(list) || list.length !== 1 || !Array.isArray(list[0]) || typeof list[0][0] !== 'string')
    throw new Error(`${owner} must have exactly one ${what}, got ${JSON.stringify(v)}`);
  return list[0][0] as string;
}

/** Keras 3 saves a model built on a dict of inputs or outputs as {name: [layer, node, tensor], ...}. */
export const isDict = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The calls ([name, node, 0] each) that input_layers / output_layers list, as node ids; a single
 * [name, node, 0] is a list of one. A dict of inputs in Keras's order, its keys sorted (model.inputs
 * lists them so; the saved order of a dict built {zeta, alpha} let a list in Keras's order swap
 * two inputs of one shape); a dict of outputs in its order (each output carries its name).
 */
function endpoints(v: unknown, what: string): string[] {
  const dict = (d: Record<string, unknown>) => (what === 'input' ? Object.keys(d).sort().map((k) => d[k]) : Object.values(d));
  const list = Array.isArray(v) && typeof v[0] === 'string' ? [v] : isDict(v) ? dict(v) : (v as unknown[]);
  if (!Array.isArray(list) || list.length === 0) throw new Error(`the model has no ${what}s (${what}_layers is ${JSON.stringify(v)})`);
  return list.map((e) => {
    if (!Array.isArray(e) || typeof e[0] !== 'string') throw new Error(`the model's ${what}_layers has ${JSON.stringify(e)}, not a [layer, node, tensor] reference`);
    return tensorRef([e[0], e[1] ?? 0, e[2] ?? 0], `the model's ${what} '${e[0]}'`)!;
  });
}

/**
 * Whether Keras 3 saved the model: its version says so, or (no version: a config from
 * `model.to_json()`, assembled by hand) something only Keras 3 writes: a layer call in its form
 * (`keras_history`), a dtype policy object (`DTypePolicy`; tf-keras writes a string, or a
 * `Policy` for mixed precision) or an input's `batch_shape` (tf-keras and tfjs:
 * `batch_input_shape`). A Keras 3 Sequential model has no layer calls, so before the last two its
 * hard_sigmoid was taken as Keras 2's.
 */
/** Whether Keras 3 saved the topology (its version, or what only it writes). */
export function isKeras3(topo: ModelTopology, layers: LayerConfig[]): boolean {
  const major = /^(\d+)\./.exec(typeof topo.keras_version === 'string' ? topo.keras_version : '');
  if (major) return Number(major[1]) >= 3;
  if (JSON.stringify(layers.map((l) => l.inbound_nodes ?? null)).includes('"keras_history"')) return true;
  return layers.some((l) => {
    const c = (l.config ?? {}) as Record<string, unknown>;
    const dtype = c.dtype as { class_name?: unknown } | undefined;
    return c.batch_shape !== undefined || (typeof dtype === 'object' && dtype !== null && /DTypePolicy$/.test(String(dtype.class_name)));
  });
}

/** Whether TensorFlow.js saved the model (model.save: keras_version 'tfjs-layers x.y.z'). */
const isTfjs = (topo: ModelTopology): boolean => typeof topo.keras_version === 'string' && topo.keras_version.startsWith('tfjs-layers');

export function graphOf(topo: ModelTopology): LayerGraph {
  if (!topo || typeof topo !== 'object') throw new Error('modelTopology is missing');
  // A GraphModel's topology is a TensorFlow GraphDef (a list of op nodes), not Keras layers.
  if (Array.isArray((topo as { node?: unknown }).node))
    throw new Error("this is a TensorFlow.js GraphModel's GraphDef (TensorFlow ops), read here untranslated: the library's model readers (loadLayersModel, loadPlainModel, deploy, tfe deploy) translate a GraphModel into layers first (lib/api/graph_model.ts); load it through one of them");
  const cfg = topo.model_config ? topo.model_config.config : topo.config;
  const cls = topo.model_config?.class_name ?? topo.class_name;
  if (cls === 'Sequential') {
    const layers = checkLayers(Array.isArray(cfg) ? cfg : cfg?.layers);
    // Keras and tfjs build a Sequential model of single-output layers only.
    const several = layers.find((l) => outputCount(l) > 1);
    if (several) throw new Error(`${layerLabel(several)}: return_state = true is not supported in a Sequential model, whose layers return one tensor each (Keras refuses it too); use a Functional model`);
    const first = layers[0];
    const shape = inputShapeOf(first.config, `the first layer ('${first.config.name}')`);
    const nodes = layers.map((layer, i) => ({ layer, id: layer.config.name, call: 0, inputs: i === 0 ? (layer.class_name === 'InputLayer' ? [] : ['']) : [layers[i - 1].config.name] }));
    const last = layers[layers.length - 1].config.name;
    const strings = first.config.dtype === 'string' ? { strings: true as const } : {};
    return { nodes, inputs: [{ id: first.class_name === 'InputLayer' ? first.config.name : '', shape, ...strings }], outputs: [last], outputNames: [last], keras3: isKeras3(topo, layers), tfjs: isTfjs(topo), explicitMasks: topo.keras_version === GRAPH_MODEL_VERSION };
  }
  if (!FUNCTIONAL.has(String(cls)) || !cfg || Array.isArray(cfg)) throw new Error(`only Sequential and Functional models are supported, got ${String(cls)}`);
  const layers = checkLayers(cfg.layers);
  const inputIds = endpoints(cfg.input_layers, 'input');
  const outputs = endpoints(cfg.output_layers, 'output');
  const byName = new Map(layers.map((l) => [l.config.name, l]));
  const keras3 = isKeras3(topo, layers);
  // A dict of inputs is addressed by its keys, as Keras's predict takes it (which may differ from
  // the input layers' names: {"second": Input(name="first"), ...} swapped them), in their order.
  const keys = isDict(cfg.input_layers) ? Object.keys(cfg.input_layers).sort() : undefined;
  const inputs = inputIds.map((id, i) => {
    const l = byName.get(id);
    if (!l || l.class_name !== 'InputLayer') throw new Error(`the model's input '${id}' is not an InputLayer`);
    if (inputIds.indexOf(id) !== i) throw new Error(`the model lists its input '${id}' twice`);
    return { id, ...(keys && keys[i] !== id ? { name: keys[i] } : {}), shape: inputShapeOf(l.config, `input layer '${id}'`), ...(l.config.dtype === 'string' ? { strings: true as const } : {}) };
  });
  const calls = new Map<string, LayerNode>();
  for (const l of layers) {
    const name = l.config.name, base = layerLabel(l);
    const inbound = Array.isArray(l.inbound_nodes) ? l.inbound_nodes : [];
    if (l.class_name === 'InputLayer') {
      calls.set(name, { layer: l, id: name, call: 0, inputs: [] });
      continue;
    }
    // Never called: not part of the graph. Called k times (a shared layer): k nodes, one set of weights.
    let firstArgs = '';
    for (const [k, node] of inbound.entries()) {
      const id = nodeId(name, k), where = inbound.length > 1 ? `${base}, call ${k + 1} of ${inbound.length},` : base;
      if (k > 0 && byName.has(id)) throw new Error(`${base} is called ${inbound.length} times, and another layer is named '${id}', as its call ${k + 1} is known here: rename that layer`);
      const { names, kwargs } = inboundCall(node, where);
      // tf-keras keeps training=True in predict (batch statistics, dropout), tfjs and Keras 3 do
      // not: what the model computes depends on where it runs, so it is refused rather than guessed.
      // A Keras 3 model's is moot: its predict passes training=False to every layer that takes it
      // (and Keras 3 records training=True from a call signature's default: every augmentation layer).
      if (kwargs.training === true && keras3) delete kwargs.training;
      if (kwargs.training === true) throw new Error(`${where} is called with training=True: tf-keras then computes it as in training (batch statistics, dropout) and tfjs and Keras 3 do not, so the model's own output is ambiguous; save it without the flag`);
      // The layers read their call's arguments from their config (callArgs): one set for every
      // call. training=False is what predict does anyway: no difference. Only the attention
      // layers read others (use_causal_mask...); elsewhere an argument that is set would be
      // ignored, so it is refused (Keras 3 saves the ones not given as None).
      const { training, ...rest } = kwargs;
      if (!ATTENTIONS.has(l.class_name))
        for (const [key, v] of Object.entries(rest))
          if (v !== null && v !== false && !(key === 'mask' && maskNoteOf(v))) throw new Error(`${where} is called with ${key} = ${JSON.stringify(v)?.slice(0, 60)}, which this layer does not take: it would be ignored`);
      // Unset arguments (None, false) and training=False are the call without them.
      const set = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== null && v !== false));
      const args = JSON.stringify(training === false || training === null || training === undefined ? set : { ...set, training });
      if (k === 0) {
        firstArgs = args;
        if (Object.keys(kwargs).length) l.callArgs = kwargs;
      } else if (args !== firstArgs) throw new Error(`${base} is called with ${args} in its call ${k + 1} and ${firstArgs} in its first: a shared layer's calls must take the same arguments`);
      if (names.length === 0) throw new Error(`${where} has no inputs`);
      checkArity(l, names.length, where);
      calls.set(id, { layer: l, id, call: k, inputs: names });
    }
  }
  // A reference to a call that does not exist: to a layer the model lacks, one never called, or
  // past a layer's calls. `who` takes it: a layer, or the model (its output).
  const unknown = (id: string, who?: LayerNode): Error => {
    const m = /^(.*)\[(\d+)\]$/.exec(id), name = m && byName.has(m[1]) ? m[1] : id, l = byName.get(name);
    const taker = who ? layerLabel(who.layer) : "the model's output";
    if (!l) return new Error(who ? `${taker} takes the output of '${id}', which is not a layer of the model` : `the output names '${id}', which is not a layer of the model`);
    const n = l.class_name === 'InputLayer' ? 1 : Array.isArray(l.inbound_nodes) ? l.inbound_nodes.length : 0;
    if (n === 0) return new Error(`layer '${name}' is needed for ${who ? `'${who.layer.config.name}'` : 'the output'} but is never called`);
    return new Error(`${taker} takes call ${Number(m?.[2] ?? 0) + 1} of '${name}', which is called ${n === 1 ? 'once' : `${n} times`}`);
  };
  // An output past a call's own (outputId): the call must return that many (outputCount).
  const callOf = (id: string, who?: LayerNode): string => {
    const { call, output } = splitOutputId(id, (c) => calls.has(c));
    if (!calls.has(call)) throw unknown(call, who);
    const n = outputCount(calls.get(call)!.layer), layer = calls.get(call)!.layer;
    // An attention's scores (its output 1): named as such, not as an output it lacks.
    if (output >= n && ATTENTIONS.has(layer.class_name) && layer.callArgs?.return_attention_scores === true) refuse(layer, `is called with return_attention_scores = true and its output ${output}, the attention scores, is read: not supported (only the attention's result is)`);
    if (output >= n) throw new Error(`${who ? layerLabel(who.layer) : "the model's output"} takes output ${output} of '${call}', which returns ${n === 1 ? 'one tensor' : `${n} tensors`}${n === 1 && RECURRENT.has(calls.get(call)!.layer.class_name) ? ' (its states need return_state)' : ''}`);
    return call;
  };
  for (const node of calls.values()) for (const i of node.inputs) callOf(i, node);
  for (const o of outputs) callOf(o);
  // Order the nodes the outputs need, inputs first; anything else is unused and dropped.
  // A depth-first walk with its own stack: a chain of 10 000 layers overflowed the call stack.
  const order: LayerNode[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: { id: string; next: number }[] = [];
  const enter = (ref: string): void => {
    const id = calls.has(ref) ? ref : callOf(ref);
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') throw new Error(`the model has a cycle through '${id}'`);
    if (!calls.has(id)) throw unknown(id);
    state.set(id, 'visiting');
    stack.push({ id, next: 0 });
  };
  for (const out of outputs) {
    enter(out);
    while (stack.length) {
      const top = stack[stack.length - 1], node = calls.get(top.id)!;
      if (top.next < node.inputs.length) {
        enter(node.inputs[top.next++]);
        continue;
      }
      stack.pop();
      state.set(top.id, 'done');
      order.push(node);
    }
  }
  const stray = order.find((n) => n.layer.class_name === 'InputLayer' && !inputIds.includes(n.id));
  if (stray) throw new Error(`the model's output depends on input layer '${stray.id}', which is not among its inputs (${inputIds.map((i) => `'${i}'`).join(', ')})`);
  // An input no output reads is still one the caller passes (as tfjs takes it): its node comes first.
  for (const id of inputIds) if (!state.has(id)) order.unshift(calls.get(id)!);
  // A dict of outputs is named by its keys (what Keras 3's predict returns them under).
  const kept = isDict(cfg.output_layers) ? Object.keys(cfg.output_layers) : cfg.output_names;
  const outputNames = Array.isArray(kept) && kept.length === outputs.length && kept.every((n) => typeof n === 'string') ? (kept as string[]) : outputs.map((id) => (byName.has(id) ? id : calls.get(callOf(id))!.layer.config.name));
  return { nodes: order, inputs, outputs, outputNames, keras3, tfjs: isTfjs(topo), explicitMasks: topo.keras_version === GRAPH_MODEL_VERSION };
}
