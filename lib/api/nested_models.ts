// Models inside models, as transfer learning makes them (a pretrained base as one layer of a
// Sequential or Functional model, or a Sequential block inside a Functional one), flattened into
// one Functional topology before anything else reads it: the graph, the spec, calibration's edits,
// the servers. Each nested model's input layer is dropped, its first layers read what the call of
// the model passed it, and whatever read the model's output reads its last layer instead. Weight
// names follow: tfjs names a nested layer's weights by the layer alone (dense_1/kernel), Keras may
// put the nested models' names before it (base/dense_1/kernel), which are stripped here.
import type { LayersModelJson } from './layers_spec';
import { batchShapeOf, endpoint, type LayerConfig, type ModelTopology, refsIn } from './layers_graph';

const MODEL_CLASSES = new Set(['Sequential', 'Model', 'Functional']);

type Config = Record<string, unknown> & { name?: unknown; layers?: unknown; input_layers?: unknown; output_layers?: unknown };
interface Graph {
  name: string;
  layers: LayerConfig[];
  input: string;
  output: string;
}

const isModel = (l: LayerConfig): boolean => MODEL_CLASSES.has(l?.class_name);

const single = (v: unknown, what: string, model: string): string => endpoint(v, what, `nested model '${model}'`);

/** The batch shape a layer declares; for a nested model, its input's (a base model first in a Sequential). */
function inputBatchShape(l: LayerConfig | undefined, depth = 0): unknown {
  if (!l || depth > 32) return undefined;
  const c = (l.config ?? {}) as Record<string, unknown>;
  const declared = Array.isArray(l.config) ? undefined : batchShapeOf(c);
  if (declared !== undefined || !isModel(l)) return declared;
  const layers = (Array.isArray(l.config) ? l.config : c.layers) as LayerConfig[] | undefined;
  if (!Array.isArray(layers)) return undefined;
  if (l.class_name === 'Sequential' || Array.isArray(l.config)) return inputBatchShape(layers[0], depth + 1);
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
  return { name, layers: out, input, output: prev };
}

function graphOfModel(cls: string, cfg: unknown, name: string): Graph {
  if (Array.isArray(cfg)) return sequentialGraph(name, cfg as LayerConfig[]);
  const c = (cfg ?? {}) as Config;
  if (!Array.isArray(c.layers)) throw new Error(`model '${name}' has no layer list`);
  if (cls === 'Sequential') return sequentialGraph(name, c.layers as LayerConfig[]);
  return { name, layers: c.layers as LayerConfig[], input: single(c.input_layers, 'input', name), output: single(c.output_layers, 'output', name) };
}

/**
 * Flattens graph `g`'s nested models in place of their one call; `nested` collects their names.
 * References to a nested model take node 0 or 1 (Keras and tfjs count a model's own input node
 * first when it was built with one); they become references to its output layer at node 0.
 */
function flatten(g: Graph, nested: string[], depth: number): Graph {
  if (depth > 32) throw new Error(`models are nested more than 32 deep in '${g.name}'`);
  // A nested model's name -> the layer whose output is its output (after splicing).
  const outputOf = new Map<string, string>();
  const layers: LayerConfig[] = [];
  for (const l of g.layers) {
    if (!isModel(l)) {
      layers.push(l);
      continue;
    }
    const name = String(l.config?.name ?? (l as { name?: unknown }).name);
    const calls = Array.isArray(l.inbound_nodes) ? l.inbound_nodes : [];
    if (calls.length !== 1) throw new Error(`nested model '${name}' is called ${calls.length} times in '${g.name}': a nested model must be called exactly once (shared models are not supported)`);
    const args = refsIn(calls[0]);
    // tf-keras's transfer-learning idiom calls the base with training=False (what predict does);
    // training=True would run it as in training (batch statistics, dropout): refused, as for layers.
    if (JSON.stringify(calls[0]).includes('"training":true')) throw new Error(`nested model '${name}' is called with training=True in '${g.name}': it would then compute as in training (batch statistics, dropout); save it called with training=False`);
    if (args.length !== 1) throw new Error(`nested model '${name}' is called with ${args.length} input tensors in '${g.name}': nested models with one input are supported`);
    const inner = flatten(graphOfModel(l.class_name, l.config, name), nested, depth + 1);
    nested.push(name);
    // The nested input layer goes; the nested layers that read it read what the call passed in
    // (the same reference: layer, node and tensor). Only inside the nested model: an outer layer
    // of the same name as its input layer is another layer.
    const arg = args[0];
    for (const il of inner.layers)
      for (const ref of refsIn(il.inbound_nodes))
        if (ref[0] === inner.input) {
          ref[0] = arg[0];
          ref[1] = arg[1];
          ref[2] = arg[2] ?? 0;
        }
    outputOf.set(name, inner.output === inner.input ? String(arg[0]) : inner.output);
    for (const il of inner.layers) if (il.config.name !== inner.input) layers.push(il);
  }
  if (outputOf.size === 0) return g;
  const resolve = (n: string): string => {
    for (let i = 0; i <= outputOf.size && outputOf.has(n); i++) n = outputOf.get(n)!;
    return n;
  };
  // Whatever read a nested model's output reads its last layer. Keras and tfjs count a model's own
  // input node first when it was built with one, so its one call is node 0 or 1.
  for (const l of layers)
    for (const ref of refsIn(l.inbound_nodes)) {
      const from = String(ref[0]);
      if (!outputOf.has(from)) continue;
      const where = `layer '${l.config.name}'`;
      if (ref[1] !== 0 && ref[1] !== 1) throw new Error(`${where} takes call ${String(ref[1])} of nested model '${from}', which is called once`);
      if ((ref[2] ?? 0) !== 0) throw new Error(`${where} takes output ${String(ref[2])} of nested model '${from}'; nested models with one output are supported`);
      ref[0] = resolve(from);
      ref[1] = 0;
      ref[2] = 0;
    }
  const seen = new Map<string, number>();
  for (const l of layers) seen.set(l.config.name, (seen.get(l.config.name) ?? 0) + 1);
  const twice = [...seen].find(([, n]) => n > 1);
  if (twice) throw new Error(`two layers are named '${twice[0]}' once the nested models of '${g.name}' (${nested.join(', ')}) are taken apart: Keras and tfjs keep their weights apart only by layer name, so rename one before saving`);
  return { name: g.name, layers, input: g.input, output: resolve(g.output) };
}

/** Whether any layer of the topology, at any depth, is a model. */
function hasNested(layers: unknown): boolean {
  return Array.isArray(layers) && layers.some((l: LayerConfig) => isModel(l));
}

/**
 * The model with its nested models flattened (see the top of this file), or the same object when
 * it has none. Refused: a nested model called more than once, or with more than one input or output.
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
    if (typeof own !== 'string') return json;
    const manifest = withoutModelPrefixes(json.weightsManifest, new Set([own]));
    return manifest === json.weightsManifest ? json : { ...json, weightsManifest: manifest };
  }
  const name = String(own ?? 'model');
  const nested: string[] = [];
  // Flattening rewrites layer calls: on a copy, never the caller's artifacts.
  const g = flatten(graphOfModel(String(holder.class_name), structuredClone(cfg), name), nested, 0);
  const flatConfig = { ...(Array.isArray(cfg) ? {} : cfg), name, layers: g.layers, input_layers: [[g.input, 0, 0]], output_layers: [[g.output, 0, 0]] };
  const flatHolder = { ...holder, class_name: 'Functional', config: flatConfig };
  const modelTopology = (topo.model_config ? { ...topo, model_config: flatHolder } : { ...topo, ...flatHolder }) as ModelTopology;
  return { ...json, modelTopology, weightsManifest: withoutModelPrefixes(json.weightsManifest, new Set([name, ...nested])) };
}

/**
 * Weight names with the names of enclosing models stripped from their front (base/dense/kernel ->
 * dense/kernel), unless the short name is in the manifest already.
 */
function withoutModelPrefixes(manifest: LayersModelJson['weightsManifest'], models: Set<string>): LayersModelJson['weightsManifest'] {
  if (!Array.isArray(manifest)) return manifest;
  const names = new Set(manifest.flatMap((g) => (Array.isArray(g?.weights) ? g.weights.map((w) => w.name) : [])));
  const short = (n: string): string => {
    if (typeof n !== 'string') return n;
    let p = n.split('/');
    while (p.length > 2 && models.has(p[0]) && !names.has(p.join('/').slice(p[0].length + 1))) p = p.slice(1);
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
