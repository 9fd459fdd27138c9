// Input sizes a model was saved with open (Keras's Input(shape=(None,)): a text model's length,
// a fully convolutional model's image size), fixed by the caller where the model is read
// (`inputShapes`; `--input-shape` in the CLI). The servers size every query, its dealt material and
// its memory from the input's shape, so a model is planned, deployed and run at one shape; the
// caller picks it (the longest input it will send: shorter ones are padded, which a model with a
// padding mask ignores exactly). Owner-side only: the topology then carries the fixed shape.
// A text input (a string read by TextVectorization layers) reaches the servers as [tokens] ids:
// its size is output_sequence_length in int mode (known), and open in the bag-of-words modes,
// where the size given is written into the layers as their tokens_per_text (layers_text.ts).
import { batchShapeOf, isDict, type LayerConfig, type ModelTopology } from './layers_graph';
import type { GraphNode } from './graph_model_ops';
import { TOKENS_PER_TEXT } from './layers_text';

/** One shape (after the batch axis) for a model of one input, or shapes by input name. */
export type InputShapes = readonly number[] | Readonly<Record<string, readonly number[]>>;

/** A size's bound: 2^24 values on one axis is beyond any model a query could carry. */
const MAX_SIZE = 1 << 24;

/** Checks the option's form alone (before the model is read): names the problem. */
export function checkInputShapesOption(given: unknown, where: string): asserts given is InputShapes {
  const dims = (v: unknown, what: string) => {
    if (!Array.isArray(v) || v.length === 0) throw new TypeError(`${where}: inputShapes${what} must be a list of sizes after the batch axis, such as [128], got ${JSON.stringify(v)}`);
    for (const d of v) if (!Number.isSafeInteger(d) || d < 1 || d > MAX_SIZE) throw new TypeError(`${where}: inputShapes${what} has size ${JSON.stringify(d)}: sizes are integers from 1 to ${MAX_SIZE}`);
  };
  if (Array.isArray(given)) return dims(given, '');
  if (!isDict(given) || Object.keys(given).length === 0) throw new TypeError(`${where}: inputShapes must be one shape ([128]) or shapes by input name ({ tokens: [128] }), got ${JSON.stringify(given)}`);
  for (const [k, v] of Object.entries(given)) dims(v, `.${k}`);
}

/** One model input as the readers see it: its names (layer, and a dict key if any) and its batch shape. */
interface OpenInput {
  names: string[];
  shape: readonly (number | null)[];
  set(shape: number[]): void;
}

/** The given shapes applied to the model's inputs; every given one must name an input and agree with its known sizes. */
function apply(inputs: OpenInput[], given: InputShapes, where: string): void {
  const list = Array.isArray(given) ? undefined : Object.entries(given as Record<string, readonly number[]>);
  if (!list && inputs.length !== 1) throw new Error(`${where}: the model has ${inputs.length} inputs (${inputs.map((i) => i.names[0]).join(', ')}): give inputShapes by name, such as { ${inputs[0].names[0]}: [...] }`);
  const pairs = list ? list.map(([name, dims]) => {
    const input = inputs.find((i) => i.names.includes(name));
    if (!input) throw new Error(`${where}: inputShapes names '${name}', which is not an input of the model (its inputs: ${inputs.map((i) => i.names.join(' or ')).join(', ')})`);
    return [input, dims] as const;
  }) : [[inputs[0], given as readonly number[]] as const];
  for (const [input, dims] of pairs) {
    const name = input.names[0], known = input.shape.slice(1);
    if (dims.length !== known.length) throw new Error(`${where}: input '${name}' has ${known.length} axes after the batch (${JSON.stringify(known)}), and the shape given for it has ${dims.length} ([${dims}])`);
    known.forEach((d, k) => {
      if (d !== null && d !== dims[k]) throw new Error(`${where}: input '${name}' has size ${d} at axis ${k + 1} (${JSON.stringify(known)}), and the shape given for it says ${dims[k]} ([${dims}]): only its open sizes (null) can be given`);
    });
    input.set([...dims]);
  }
}

/**
 * A text input as the servers see it, [batch, tokens]: int mode's output_sequence_length, known; the
 * bag-of-words modes' tokens_per_text, open unless the config gives it (layers_text.ts).
 */
function textInput(readers: LayerConfig[], names: string[], batch: number | null): OpenInput {
  const c = readers[0].config, bag = (c.output_mode ?? 'int') !== 'int';
  const size = bag ? c[TOKENS_PER_TEXT] : c.output_sequence_length;
  const set = ([n]: number[]) => (bag ? readers.forEach((l) => ((l.config as Record<string, unknown>)[TOKENS_PER_TEXT] = n)) : undefined);
  return { names, shape: [batch, typeof size === 'number' ? size : null], set };
}

/** The model's config and class, whichever way the topology nests them. */
function configOf(topo: ModelTopology): { cls: unknown; cfg: unknown } {
  return { cls: topo.model_config?.class_name ?? topo.class_name, cfg: topo.model_config ? topo.model_config.config : topo.config };
}

/**
 * A LayersModel topology (normalized: layers_spec.ts normalizedModelJson) with the given input
 * shapes written into its input layers' batch shapes; the caller's topology is not changed.
 */
export function layersWithInputShapes<T extends ModelTopology>(topo: T, given: InputShapes, where: string): T {
  const copy = structuredClone(topo);
  const { cls, cfg } = configOf(copy);
  const layers = (Array.isArray(cfg) ? cfg : (cfg as { layers?: LayerConfig[] } | undefined)?.layers) ?? [];
  const inputOf = (l: LayerConfig | undefined, names: string[]): OpenInput => {
    if (!l) throw new Error(`${where}: the model has no layers to give an input shape to`);
    const c = l.config as Record<string, unknown>;
    const shape = batchShapeOf(c);
    if (!Array.isArray(shape)) throw new Error(`${where}: the model's input '${names[0]}' declares no shape (batch_input_shape or batch_shape) to fix`);
    const key = c.batch_input_shape !== undefined ? 'batch_input_shape' : c.batchInputShape !== undefined ? 'batchInputShape' : 'batch_shape';
    const texts = textReaders(l, names[0]);
    if (texts.length) return textInput(texts, names, shape[0] as number | null);
    return { names, shape: shape as (number | null)[], set: (dims) => (c[key] = [shape[0] ?? null, ...dims]) };
  };
  // The TextVectorization layers reading input `id` (the first layer itself, or the one after it, in a Sequential).
  const textReaders = (input: LayerConfig, id: string): LayerConfig[] => {
    if (cls === 'Sequential') {
      const first = input.class_name === 'InputLayer' ? layers[1] : input;
      return first?.class_name === 'TextVectorization' ? [first] : [];
    }
    const ref = new RegExp(`\\[${JSON.stringify(id).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')},\\d+,\\d+`);
    return layers.filter((l) => l.class_name === 'TextVectorization' && ref.test(JSON.stringify((l as { inbound_nodes?: unknown }).inbound_nodes ?? [])));
  };
  if (cls === 'Sequential') apply([inputOf(layers[0], [String(layers[0]?.config.name)])], given, where);
  else {
    const io = (cfg as { input_layers?: unknown }).input_layers;
    // [name, 0, 0], a list of them, or Keras 3's dict of them by input name.
    const refs: [string | undefined, unknown][] = Array.isArray(io) && typeof io[0] === 'string' ? [[undefined, io]] : isDict(io) ? Object.entries(io) : Array.isArray(io) ? io.map((r) => [undefined, r]) : [];
    const inputs = refs.map(([key, ref]) => {
      const id = Array.isArray(ref) ? String(ref[0]) : '';
      return inputOf(layers.find((l) => l.config.name === id), key && key !== id ? [id, key] : [id]);
    });
    apply(inputs, given, where);
  }
  return copy;
}

/** A GraphModel's graph with the given shapes written into its input placeholders (and its signature); the caller's JSON is not changed. */
export function graphWithInputShapes<T extends { modelTopology: unknown; signature?: unknown }>(json: T, given: InputShapes, where: string): T {
  const copy = structuredClone(json);
  const nodes = ((copy.modelTopology as { node?: GraphNode[] }).node ?? []) as GraphNode[];
  type SignatureInput = { name?: string; tensorShape?: { dim?: { size?: string | number }[] } };
  const sig = (copy.signature as { inputs?: Record<string, SignatureInput> } | undefined)?.inputs;
  // Without a signature, the Placeholders some node reads (a loop's lowering leaves unread ones).
  const read = new Set(nodes.flatMap((n) => (n.input ?? []).filter((r) => !r.startsWith('^')).map((r) => r.split(':')[0])));
  const entries: [string, SignatureInput][] = sig ? Object.entries(sig) : nodes.filter((n) => n.op === 'Placeholder' && read.has(n.name)).map((n) => [n.name, { name: `${n.name}:0` }]);
  const inputs = entries.map(([key, s]) => {
    const nodeName = String(s.name ?? key).replace(/:\d+$/, '');
    const node = nodes.find((n) => n.name === nodeName && n.op === 'Placeholder');
    if (!node) throw new Error(`${where}: the GraphModel's input '${key}' is not a placeholder of its graph`);
    const dims = node.attr.shape?.shape?.dim;
    if (!dims || node.attr.shape?.shape?.unknownRank) throw new Error(`${where}: the GraphModel's input '${key}' has no known rank: give the model a fixed input shape when exporting it`);
    const shape = dims.map((d) => (Number(d.size) > 0 ? Number(d.size) : null));
    return {
      names: key === nodeName ? [key] : [key, nodeName],
      shape,
      set: (fixed: number[]) => {
        const sized = [dims[0].size ?? '-1', ...fixed].map((size) => ({ size: String(size) }));
        node.attr.shape!.shape!.dim = sized;
        if (s.tensorShape) s.tensorShape.dim = sized.map((d) => ({ ...d }));
      },
    };
  });
  apply(inputs, given, where);
  return copy;
}
