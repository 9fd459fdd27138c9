// A TensorFlow.js GraphModel (tensorflowjs_converter's output for a SavedModel, a frozen graph or
// TF Hub: a TensorFlow GraphDef of ops, format 'graph-model') read as the Keras functional model
// it computes, so that every reader after this one (the layers, the plaintext model, the bounds,
// the servers) sees layers only. The owner translates; the servers never see the GraphDef.
//
// Only the ops a converted Keras-style network is made of translate (graph_model_nodes.ts): fused
// convolutions and matmuls with their bias and activation, depthwise convolutions, pools, batch
// normalisation, the activations, element-wise sums and products of two tensors or of a tensor
// and a constant per channel or over the last axes (a private scale and shift: constants are the
// owner's), concatenation, zero padding, global pooling, token ids into an embedding lookup
// (graph_model_ids.ts) with Keras's padding mask (graph_model_masks.ts), layer and RMS
// normalisations, GELU, multi-head and dot-product attention written as primitive ops
// (graph_model_norms.ts, graph_model_gelu.ts, graph_model_attention.ts, graph_model_einsums.ts,
// graph_model_dot_attention.ts), recurrent layers' while loops (graph_model_loops.ts,
// graph_model_cells.ts), TimeDistributed's steps (graph_model_steps.ts), dilated convolutions
// (graph_model_atrous.ts), and the reshapes a Flatten becomes (the shape computed from Shape,
// StridedSlice and Pack, only the batch size unknown). Any other op on the way to an output is
// refused, naming it and its node. Nodes no output depends on are never read.
import type { LayersModelJson, WeightSpec } from './layers_spec';
import { foldKnownSizes } from './graph_model_sizes';
import { matchUnrolledRecurrences, refuseUnmatchedUnrolled } from './graph_model_unrolled';
import { dataInputs } from './graph_model_algebra';
import { GRAPH_MODEL_VERSION } from './layers_graph';
import { type GraphNode, type Translated, type Val } from './graph_model_ops';
import { inputDims, LOOP_OPS, translateNode } from './graph_model_nodes';
import { matchAttentions } from './graph_model_attention';
import { matchGelus } from './graph_model_gelu';
import { dropIdWraps, idsFromFloats } from './graph_model_ids';
import { matchMaskedMeans } from './graph_model_masks';
import { matchRecurrentLoops } from './graph_model_loops';
import { matchDotAttentions } from './graph_model_dot_attention';
import { matchAtrousConvolutions } from './graph_model_atrous';
import { matchTimeMajorSteps } from './graph_model_steps';
import { einsumsFromMatMuls } from './graph_model_einsums';
import { matchMaskingLayers } from './graph_model_masking';
import { matchNormalizations } from './graph_model_norms';

/** A model.json (or artifacts' topology) that is a GraphModel: a GraphDef's `node` list. */
export function isGraphModel(json: { modelTopology?: unknown; format?: unknown }): boolean {
  return json.format === 'graph-model' || Array.isArray((json.modelTopology as { node?: unknown } | undefined)?.node);
}

type Weights = Map<string, { data: Float32Array; shape: number[] }>;

/** "name:1" -> ["name", 1]; "^name" (a control input) -> undefined. */
function endpoint(ref: string): [string, number] | undefined {
  if (ref.startsWith('^')) return undefined;
  const m = /^(.*?)(?::(\d+))?$/.exec(ref)!;
  return [m[1], m[2] === undefined ? 0 : Number(m[2])];
}

/** The signature's tensor names ("Identity:0") for inputs or outputs, in its order (TensorFlow.js's); undefined without one. */
function signatureNames(sig: unknown, which: 'inputs' | 'outputs'): { key: string; ref: string }[] | undefined {
  const m = (sig as Record<string, unknown> | undefined)?.[which];
  if (!m || typeof m !== 'object') return undefined;
  return Object.entries(m as Record<string, { name?: unknown }>)
    .map(([key, v]) => ({ key, ref: typeof v?.name === 'string' ? v.name : key }));
}

/**
 * The Keras functional model a GraphModel computes, and its weights under the layers' names.
 * `weights`: the manifest's tensors by node name (int32 ones as floats: shapes and axes).
 */
export function graphModelAsLayers(json: LayersModelJson & { signature?: unknown }, weights: Weights): { json: LayersModelJson; weights: Weights } {
  const topo = json.modelTopology as unknown as { node?: unknown; library?: { function?: unknown[] } };
  if (!Array.isArray(topo.node)) throw new Error('this GraphModel has no node list in its modelTopology');
  if (Array.isArray(topo.library?.function) && topo.library.function.length > 0)
    throw new Error(`this GraphModel holds ${topo.library.function.length} graph function(s) (control flow kept as functions, or a nested call): not supported; only a straight graph of ops translates, and the while loops of Keras's recurrent layers`);
  const nodes = new Map<string, GraphNode>();
  for (const [i, n] of (topo.node as unknown[]).entries()) {
    const g = n as Partial<GraphNode>;
    if (!g || typeof g.name !== 'string' || typeof g.op !== 'string') throw new Error(`GraphModel node ${i} has no name or op`);
    if (nodes.has(g.name)) throw new Error(`GraphModel node '${g.name}' is defined twice`);
    const inputs = (Array.isArray(g.input) ? g.input : []).map(String);
    nodes.set(g.name, { name: g.name, op: g.op, input: inputs, attr: (g.attr ?? {}) as GraphNode['attr'] });
  }
  // Groups of primitive ops that are one Keras layer (normalisations, GELUs, attentions, masked
  // means, recurrent loops) become one node each, and a few forms are rewritten into others the
  // walk reads (float ids, dilated convolutions, einsums, time-major steps); new weights join a
  // copy of the weights map, so the caller's is left as it was.
  weights = new Map(weights);
  // An input of open sizes is refused before anything else (a loop over its open length would be
  // refused as a loop of another form, hiding the fix: inputShapes).
  // (TensorFlow's lowering of a loop leaves Placeholders nothing reads, of any shape: not inputs.)
  const read = new Set([...nodes.values()].flatMap((n) => dataInputs(n).map((r) => r.split(':')[0])));
  for (const n of nodes.values()) if (n.op === 'Placeholder' && read.has(n.name)) inputDims(n);
  // Sizes computed from an input's shape that is known (fixed by inputShapes) become constants
  // first: a loop over an open length reads its step count as one exported at that length.
  foldKnownSizes(nodes, weights);
  idsFromFloats(nodes, weights);
  matchAtrousConvolutions(nodes, weights);
  matchNormalizations(nodes, weights);
  matchGelus(nodes, weights);
  // (Dot-product attention first: its transposed key is its own; then products written as
  // transposes around a BatchMatMulV2 are read as the Einsums multi-head attention is made of.)
  matchDotAttentions(nodes, weights);
  einsumsFromMatMuls(nodes, weights);
  matchAttentions(nodes, weights);
  matchMaskedMeans(nodes, weights);
  matchMaskingLayers(nodes, weights);
  // (Unrolled layers first: a loop may read one's steps.)
  matchUnrolledRecurrences(nodes, weights);
  matchTimeMajorSteps(nodes, weights, matchRecurrentLoops(nodes, weights));
  dropIdWraps(nodes, weights);
  const outputsGiven = signatureNames(json.signature, 'outputs');
  const outputRefs = outputsGiven?.map((o) => o.ref) ?? sinks(nodes);
  if (outputRefs.length === 0) throw new Error('this GraphModel has no output: no signature, and every node feeds another');
  refuseUnmatchedUnrolled(nodes, outputRefs);

  const out: Translated = { layers: [], weights: new Map(), names: new Set(), inputs: [], consumers: consumerCounts(nodes, outputRefs) };
  const values = new Map<string, Val[]>();
  const visiting = new Set<string>();
  const valueOf = (ref: string): Val => {
    const ep = endpoint(ref);
    if (!ep) throw new Error(`a control input '${ref}' is not a value`);
    const [name, k] = ep;
    let vs = values.get(name);
    if (!vs) {
      const node = nodes.get(name);
      if (!node) throw new Error(`GraphModel node input '${ref}' names no node`);
      if (visiting.has(name)) throw new Error(`GraphModel node '${name}' depends on itself (a cycle): not a graph of ops`);
      visiting.add(name);
      // A loop's op (one not translated with its loop) is named before anything it reads.
      if (LOOP_OPS.has(node.op)) translateNode(node, [], weights, out);
      const args = node.input.filter((r) => !r.startsWith('^')).map(valueOf);
      vs = translateNode(node, args, weights, out);
      visiting.delete(name);
      values.set(name, vs);
    }
    if (k >= vs.length) throw new Error(`GraphModel node '${name}' (${nodes.get(name)!.op}): its output ${k} is not supported`);
    return vs[k];
  };
  const outputs = outputRefs.map((ref) => {
    const v = valueOf(ref);
    if (v.kind !== 'layer') throw new Error(`the GraphModel's output '${ref}' is a constant, not computed from the input`);
    if (v.merged) throw new Error(`the GraphModel's output '${ref}' has its axes merged into the batch's (TensorFlow's tensordot, never reshaped back): not supported`);
    return v;
  });
  if (out.inputs.length === 0) throw new Error('the GraphModel computes its outputs without reading any input (Placeholder)');
  // Inputs in the signature's order where it names them (the order predict takes them in).
  const inputsGiven = signatureNames(json.signature, 'inputs');
  const inputOrder = inputsGiven ? inputsGiven.map((i) => out.inputs.find((x) => x.node === endpoint(i.ref)?.[0])).filter((x) => x !== undefined) : out.inputs;
  for (const x of out.inputs) if (!inputOrder.includes(x)) inputOrder.push(x);
  const modelTopology = {
    class_name: 'Model',
    keras_version: GRAPH_MODEL_VERSION,
    config: {
      name: 'graph_model',
      layers: out.layers,
      input_layers: inputOrder.map((x) => [x.layer, 0, 0]),
      output_layers: outputs.map((v) => [v.id, 0, v.output ?? 0]),
    },
  };
  const specs: WeightSpec[] = [...out.weights].map(([name, w]) => ({ name, shape: w.shape, dtype: 'float32' }));
  return { json: { modelTopology: modelTopology as unknown as LayersModelJson['modelTopology'], weightsManifest: [{ paths: [], weights: specs }] }, weights: out.weights };
}

/** Nodes no other node reads (Const and NoOp aside): the outputs of a graph without a signature. */
function sinks(nodes: Map<string, GraphNode>): string[] {
  const read = new Set<string>();
  for (const n of nodes.values()) for (const r of n.input) read.add(endpoint(r.replace(/^\^/, ''))![0]);
  return [...nodes.values()].filter((n) => !read.has(n.name) && n.op !== 'Const' && n.op !== 'NoOp').map((n) => n.name);
}

/** How many times each node's outputs are read on the way to the outputs (a bias merges only into a layer read once). */
function consumerCounts(nodes: Map<string, GraphNode>, outputs: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const seen = new Set<string>();
  const stack = outputs.map((r) => endpoint(r)?.[0]).filter((n): n is string => n !== undefined);
  for (const o of stack) counts.set(o, (counts.get(o) ?? 0) + 1);
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    for (const r of nodes.get(name)?.input ?? []) {
      const ep = endpoint(r);
      if (!ep) continue;
      counts.set(ep[0], (counts.get(ep[0]) ?? 0) + 1);
      stack.push(ep[0]);
    }
  }
  return counts;
}
