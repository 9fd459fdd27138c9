// Models inside models, as transfer learning makes them (a pretrained base as one layer of a
// Sequential or Functional model, or a Sequential block inside a Functional one; Keras 3's
// Pipeline, read as a Sequential), flattened into
// one Functional topology before anything else reads it: the graph, the spec, calibration's edits,
// the servers. Each nested model's input layer is dropped, its first layers read what the call of
// the model passed it, and whatever read the model's output reads its last layer instead (a model
// called several times, a siamese encoder: its layers once per call, see flatten). Weight
// names follow: tfjs names a nested layer's weights by the layer alone (dense_1/kernel), Keras may
// put the nested models' names before it (base/dense_1/kernel), which are stripped here.
import type { LayersModelJson } from './layers_spec';
import { batchShapeOf, endpoint, isDict, isKeras3, type LayerConfig, type ModelTopology, refsIn } from './layers_graph';

/**
 * The classes of models inside models; Keras 3's Pipeline (a layer applying its layers in turn,
 * augmentation and preprocessing written as one) is read as the Sequential it computes.
 */
export const MODEL_CLASSES: ReadonlySet<string> = new Set(['Sequential', 'Pipeline', 'Model', 'Functional']);
const SEQUENTIAL = new Set(['Sequential', 'Pipeline']);

/** The most layer calls the nested models of one model may make once flattened (each call is a step of every query). */
const MAX_FLAT_CALLS = 100_000;

type Config = Record<string, unknown> & { name?: unknown; layers?: unknown; input_layers?: unknown; output_layers?: unknown };
/** A tensor reference as layer calls hold them: [layer, node, tensor] (tfjs, Keras 2, and Keras 3's keras_history). */
type Ref = unknown[];
interface Graph {
  name: string;
  layers: LayerConfig[];
  /** The input layers' names (input_layers). */
  inputs: string[];
  /** What the model returns (output_layers), as references. */
  outputs: Ref[];
}

const isModel = (l: LayerConfig): boolean => MODEL_CLASSES.has(l?.class_name);

const single = (v: unknown, what: string, model: string): string => endpoint(v, what, `nested model '${model}'`);

/** input_layers / output_layers as a list of [name, node, tensor] references (one may stand alone). */
function refList(v: unknown, what: string, model: string): Ref[] {
  const list = Array.isArray(v) && typeof v[0] === 'string' ? [v] : isDict(v) ? Object.values(v) : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((e) => Array.isArray(e) && typeof e[0] === 'string')) throw new Error(`model '${model}' has ${what}_layers ${JSON.stringify(v)?.slice(0, 120)}, not a list of [layer, node, tensor]`);
  return list.map((e) => [e[0], e[1] ?? 0, e[2] ?? 0]);
}

/** The batch shape a layer declares; for a nested model, its input's (a base model first in a Sequential). */
function inputBatchShape(l: LayerConfig | undefined, depth = 0): unknown {
  if (!l || depth > 32) return undefined;
  const c = (l.config ?? {}) as Record<string, unknown>;
  const declared = Array.isArray(l.config) ? undefined : batchShapeOf(c);
  if (declared !== undefined || !isModel(l)) return declared;
  const layers = (Array.isArray(l.config) ? l.config : c.layers) as LayerConfig[] | undefined;
  if (!Array.isArray(layers)) return undefined;
  if (SEQUENTIAL.has(l.class_name) || Array.isArray(l.config)) return inputBatchShape(layers[0], depth + 1);
  try {
    const input = single(c.input_layers, 'input', String(c.name));
    return inputBatchShape(layers.find((x) => x?.config?.name === input), depth + 1);
  } catch {
    return undefined;
  }
}

/**
 * A Sequential model as a Functional one: an InputLayer (its own, or one made from its first
 * layer's batch shape), then each layer called on the one before it.
 */
function sequentialGraph(name: string, layers: LayerConfig[]): Graph {
  if (layers.length === 0) throw new Error(`nested model '${name}' has no layers`);
  const out: LayerConfig[] = [];
  let input: string;
  let rest = layers;
  if (layers[0]?.class_name === 'InputLayer') {
    input = layers[0].config.name;
    out.push({ ...layers[0], name: input, inbound_nodes: [] });
    rest = layers.slice(1);
  } else {
    const shape = inputBatchShape(layers[0]);
    input = `${name}__input`;
    out.push({ class_name: 'InputLayer', name: input, config: { name: input, ...(shape !== undefined ? { batch_input_shape: shape } : {}) }, inbound_nodes: [] });
  }
  let prev = input;
  for (const l of rest) {
    if (!l || typeof l.config?.name !== 'string') throw new Error(`a layer of '${name}' lacks class_name or config.name`);
    if (l.class_name === 'InputLayer') throw new Error(`Sequential model '${name}' has an InputLayer ('${l.config.name}') after its first layer`);
    // (The entry names itself at the top, as a Functional model's entries do: TF.js's loader
    // never settles on a model whose entries lack it, and a flattened model is Functional.)
    out.push({ ...l, name: l.config.name, inbound_nodes: [[[prev, 0, 0, {}]]] });
    prev = l.config.name;
  }
  return { name, layers: out, inputs: [input], outputs: [[prev, 0, 0]] };
}

function graphOfModel(cls: string, cfg: unknown, name: string): Graph {
  if (Array.isArray(cfg)) return sequentialGraph(name, cfg as LayerConfig[]);
  const c = (cfg ?? {}) as Config;
  if (!Array.isArray(c.layers)) throw new Error(`model '${name}' has no layer list`);
  if (SEQUENTIAL.has(cls)) return sequentialGraph(name, c.layers as LayerConfig[]);
  return { name, layers: c.layers as LayerConfig[], inputs: refList(c.input_layers, 'input', name).map((r) => String(r[0])), outputs: refList(c.output_layers, 'output', name) };
}

/** How many times each layer of `layers` is called (its inbound nodes). */
const callCount = (l: LayerConfig): number => (Array.isArray(l.inbound_nodes) ? l.inbound_nodes.length : 0);

/**
 * Flattens graph `g`'s nested models in place of their calls; `nested` collects their names. A
 * model called k times (a shared base: a siamese encoder) gives each of its layers k times its own
 * calls: call c's copy of a layer's node n is its node c N + n (N: its calls inside the model),
 * reading what call c passed in where it read the model's input. References to the model's call c
 * become references to call c of its output layer. Keras and tfjs may count a model's own input
 * node first (when it was built with one): its calls are then referred to as nodes 1 to k, not 0
 * to k - 1, told apart by the largest node referred to.
 */
function flatten(g: Graph, nested: string[], depth: number, made = { calls: 0 }): Graph {
  if (depth > 32) throw new Error(`models are nested more than 32 deep in '${g.name}'`);
  // A nested model's name -> its calls' outputs (after splicing), in call order.
  const outputOf = new Map<string, Ref[]>();
  const layers: LayerConfig[] = [];
  for (const l of g.layers) {
    if (!isModel(l)) {
      layers.push(l);
      continue;
    }
    const name = String(l.config?.name ?? (l as { name?: unknown }).name);
    const calls = Array.isArray(l.inbound_nodes) ? l.inbound_nodes : [];
    if (calls.length === 0) continue; // never called: not part of the model
    const args = calls.map((call, c) => {
      const refs = refsIn(call);
      const which = calls.length > 1 ? ` (its call ${c + 1})` : '';
      // tf-keras's transfer-learning idiom calls the base with training=False (what predict does);
      // training=True would run it as in training (batch statistics, dropout): refused, as for layers.
      // A Pipeline's calls record its own default, training=True, which Keras's predict overrides
      // (checked against Keras 3.15: its random augmentations are then the identity).
      if (l.class_name !== 'Pipeline' && JSON.stringify(call).includes('"training":true')) throw new Error(`nested model '${name}' is called with training=True in '${g.name}'${which}: it would then compute as in training (batch statistics, dropout); save it called with training=False`);
      if (refs.length !== 1) throw new Error(`nested model '${name}' is called with ${refs.length} input tensors in '${g.name}'${which}: nested models with one input are supported`);
      return refs[0];
    });
    const inner = flatten(graphOfModel(l.class_name, l.config, name), nested, depth + 1, made);
    if (inner.inputs.length !== 1 || inner.outputs.length !== 1) throw new Error(`nested model '${name}' has ${inner.inputs.length} inputs and ${inner.outputs.length} outputs: nested models with one input and one output are supported`);
    nested.push(name);
    const input = inner.inputs[0], own = inner.layers.filter((il) => il.config.name !== input);
    const counts = new Map(own.map((il) => [il.config.name, callCount(il)]));
    // The nested layers that read its input read what each call passed in (the same reference:
    // layer, node and tensor); the others, their own copy for that call. Only inside the nested
    // model: an outer layer of the same name as its input layer is another layer.
    const rewrite = (node: unknown, c: number): unknown => {
      const copy = calls.length > 1 ? structuredClone(node) : node;
      for (const ref of refsIn(copy)) {
        if (ref[0] === input) {
          ref[0] = args[c][0];
          ref[1] = args[c][1];
          ref[2] = args[c][2] ?? 0;
        } else if (counts.has(String(ref[0]))) ref[1] = c * counts.get(String(ref[0]))! + Number(ref[1] ?? 0);
      }
      return copy;
    };
    // A model called twice inside one called twice...: its layers' calls multiply with the depth.
    made.calls += calls.length * own.reduce((a, il) => a + callCount(il), 0);
    if (made.calls > MAX_FLAT_CALLS) throw new Error(`the nested models of '${g.name}' make more than ${MAX_FLAT_CALLS} layer calls once taken apart (models called several times inside models called several times): refused`);
    for (const il of own) {
      const nodes = Array.isArray(il.inbound_nodes) ? il.inbound_nodes : [];
      layers.push({ ...il, inbound_nodes: calls.flatMap((_, c) => nodes.map((node) => rewrite(node, c))) });
    }
    const out = inner.outputs[0];
    outputOf.set(name, calls.map((_, c) => (out[0] === input ? [...args[c]] : [out[0], c * (counts.get(String(out[0])) ?? 1) + Number(out[1] ?? 0), out[2] ?? 0])));
  }
  if (outputOf.size === 0) return g;
  // A reference to call `node` of nested model `from`, as a reference to what that call returns
  // (followed through a model that returns another nested model's output).
  const referred = new Map<string, number[]>();
  for (const l of layers) for (const ref of refsIn(l.inbound_nodes)) if (outputOf.has(String(ref[0]))) referred.set(String(ref[0]), [...(referred.get(String(ref[0])) ?? []), Number(ref[1] ?? 0)]);
  for (const ref of g.outputs) if (outputOf.has(String(ref[0]))) referred.set(String(ref[0]), [...(referred.get(String(ref[0])) ?? []), Number(ref[1] ?? 0)]);
  const offset = (from: string): number => (Math.max(...(referred.get(from) ?? [0])) >= outputOf.get(from)!.length ? 1 : 0);
  const resolve = (ref: Ref, where: string): void => {
    for (let hops = 0; hops <= outputOf.size && outputOf.has(String(ref[0])); hops++) {
      const from = String(ref[0]), outs = outputOf.get(from)!, c = Number(ref[1] ?? 0) - offset(from);
      if (!(c >= 0 && c < outs.length)) throw new Error(`${where} takes call ${String(ref[1])} of nested model '${from}', which is called ${outs.length === 1 ? 'once' : `${outs.length} times`}`);
      if ((ref[2] ?? 0) !== 0) throw new Error(`${where} takes output ${String(ref[2])} of nested model '${from}'; nested models with one output are supported`);
      const to = outs[c];
      ref[0] = to[0];
      ref[1] = to[1];
      ref[2] = to[2] ?? 0;
    }
  };
  // Whatever read a nested model's output reads its last layer's call.
  for (const l of layers) for (const ref of refsIn(l.inbound_nodes)) resolve(ref, `layer '${l.config.name}'`);
  const outputs = g.outputs.map((r) => {
    const ref = [...r];
    resolve(ref, `the output of '${g.name}'`);
    return ref;
  });
  const seen = new Map<string, number>();
  for (const l of layers) seen.set(l.config.name, (seen.get(l.config.name) ?? 0) + 1);
  const twice = [...seen].find(([, n]) => n > 1);
  if (twice) throw new Error(`two layers are named '${twice[0]}' once the nested models of '${g.name}' (${nested.join(', ')}) are taken apart: Keras and tfjs keep their weights apart only by layer name, so rename one before saving`);
  return { name: g.name, layers, inputs: g.inputs, outputs };
}

/** Whether any layer of the topology, at any depth, is a model. */
function hasNested(layers: unknown): boolean {
  return Array.isArray(layers) && layers.some((l: LayerConfig) => isModel(l));
}

/**
 * The model with its nested models flattened (see the top of this file), or the same object when
 * it has none. Refused: a nested model with more than one input or output.
 */
export function withoutNestedModels(json: LayersModelJson): LayersModelJson {
  const topo = json?.modelTopology as ModelTopology | undefined;
  if (!topo || typeof topo !== 'object') return json;
  const holder = (topo.model_config ?? topo) as { class_name?: unknown; config?: unknown };
  const cfg = holder.config as Config | LayerConfig[] | undefined;
  const list = Array.isArray(cfg) ? cfg : cfg?.layers;
  if (!MODEL_CLASSES.has(String(holder.class_name))) return json;
  const own = Array.isArray(cfg) ? undefined : cfg?.name;
  if (!hasNested(list)) {
    // Keras 3's tensorflowjs_converter names a flat model's weights under the model too
    // (sequential/dense/kernel: tfjs#8321, which tfjs itself then fails to load): read them as the
    // layers' own (dense/kernel), as a nested model's are.
    const manifest = withoutModelPrefixes(json.weightsManifest, new Set(typeof own === 'string' ? [own] : []), scopedLayers(topo, list));
    return manifest === json.weightsManifest ? json : { ...json, weightsManifest: manifest };
  }
  const name = String(own ?? 'model');
  const nested: string[] = [];
  // Flattening rewrites layer calls: on a copy, never the caller's artifacts.
  const top = graphOfModel(String(holder.class_name), structuredClone(cfg), name);
  const g = flatten(top, nested, 0, { calls: 0 });
  // The outputs keep the names tfjs gives them (a nested model's own, not its last layer's).
  const names = isDict((cfg as Config | undefined)?.output_layers) ? Object.keys((cfg as Config).output_layers as object) : top.outputs.map((r) => String(r[0]));
  const flatConfig = { ...(Array.isArray(cfg) ? {} : cfg), name, layers: g.layers, input_layers: g.inputs.map((i) => [i, 0, 0]), output_layers: g.outputs, ...(names.some((n, k) => n !== g.outputs[k][0]) ? { output_names: names } : {}) };
  const flatHolder = { ...holder, class_name: 'Functional', config: flatConfig };
  const modelTopology = (topo.model_config ? { ...topo, model_config: flatHolder } : { ...topo, ...flatHolder }) as ModelTopology;
  return { ...json, modelTopology, weightsManifest: withoutModelPrefixes(json.weightsManifest, new Set([name, ...nested]), scopedLayers(topo, g.layers)) };
}

/** The layers' names, where name scopes may come before them (Keras 3 only writes them); none otherwise. */
function scopedLayers(topo: ModelTopology, list: unknown): Set<string> {
  if (!Array.isArray(list) || !isKeras3(topo, list)) return new Set();
  return new Set(list.map((l: LayerConfig) => l?.config?.name).filter((n): n is string => typeof n === 'string'));
}

/**
 * Weight names with the names of enclosing models stripped from their front (base/dense/kernel ->
 * dense/kernel), unless the short name is in the manifest already. So are Keras 3's name scopes
 * (keras.applications' NASNet builds its blocks under `with name_scope(...)`, and a variable's
 * path keeps them: normal_A_block_1/normal_left1_1/kernel): leading segments that are no layer's
 * name, where a layer's name follows them. A segment that names a layer stays: it is the layer
 * whose weight this is (TimeDistributed's time_distributed/dense/kernel). In a Keras 3 model only:
 * no other writer has name scopes, and a prefix elsewhere stays a weight that is missing.
 */
function withoutModelPrefixes(manifest: LayersModelJson['weightsManifest'], models: Set<string>, layers: Set<string>): LayersModelJson['weightsManifest'] {
  if (!Array.isArray(manifest)) return manifest;
  const names = new Set(manifest.flatMap((g) => (Array.isArray(g?.weights) ? g.weights.map((w) => w.name) : [])));
  const short = (n: string): string => {
    if (typeof n !== 'string') return n;
    let p = n.split('/');
    while (p.length > 2 && models.has(p[0]) && !names.has(p.join('/').slice(p[0].length + 1))) p = p.slice(1);
    const scopes = p.findIndex((s) => layers.has(s));
    if (scopes > 0 && p.length - scopes >= 2 && !names.has(p.slice(scopes).join('/'))) p = p.slice(scopes);
    return p.join('/');
  };
  let changed = false;
  const out = manifest.map((g) => (Array.isArray(g?.weights) ? { ...g, weights: g.weights.map((w) => {
    const name = short(w.name);
    changed ||= name !== w.name;
    return { ...w, name };
  }) } : g));
  // Unchanged when no name is (the same object: a caller can tell).
  return changed ? out : manifest;
}
