// Layer and RMS normalisations in a GraphModel. Keras's LayerNormalization and RMSNormalization,
// and tf.nn.moments with tf.nn.batch_normalization, reach a GraphModel as primitive ops, which
// grappler then rearranges (Keras 3.15, after the converter's passes):
//
//   m = Mean(x, -1, keep_dims)   v = Mean(SquaredDifference(x, StopGradient(m)), -1, keep_dims)
//   r = Rsqrt(v + eps)   g' = r * gamma   out = AddV2(beta, AddN(x * g', Neg(m) * g'))
//
// None of Mean over channels, SquaredDifference or Rsqrt has a private form of its own here, but
// the whole is Keras's LayerNormalization, which has (ops_norm.ts). So before the walk
// (graph_model.ts) each such group is found and replaced by one node, '_LayerNorm' or '_RMSNorm',
// reading x and two new constants, its scale and shift; graph_model_nodes.ts makes it the layer.
//
// Rather than list grappler's arrangements, the ops after r are read as algebra
// (graph_model_algebra.ts): a value of x, m and r, each monomial with a per-channel coefficient. A
// group is a normalisation when it comes to g x r - g m r + b (or g x r + b with no mean: RMS),
// whatever the order of the steps:
// (x - m) r g + b, x (r g) + (b - m (r g)), and a LayerScale's product after it, folded into g and b.
// The largest such value whose intermediate values nothing else reads is the one replaced, so
// a group never leaves a half behind that the walk would refuse (or compute twice).
import { addConstant, combine, constValue, dataInputs, type Expr, largestEnd, type Leaves, nodeAt, only, perChannel, readersOf, through } from './graph_model_algebra';
import type { GraphNode, Weights } from './graph_model_ops';

/** The statistics of one group: x, its mean m (absent for RMS), r = 1/sqrt(variance + eps), given as Rsqrt or as the Sqrt divided by. */
interface Stats {
  x: string;
  m?: string;
  r: string;
  divides: boolean;
  eps: number;
  axes: number[];
  nodes: Set<string>;
}

/** Replaces each normalisation in `nodes` by one node (see above); its scale and shift go into `weights`. */
export function matchNormalizations(nodes: Map<string, GraphNode>, weights: Weights): void {
  const readers = readersOf(nodes);
  for (const n of [...nodes.values()]) {
    if (n.op !== 'Rsqrt' && n.op !== 'Sqrt') continue;
    const st = statsAt(nodes, weights, n);
    if (!st) continue;
    const leaves: Leaves = {
      leaf: (n) => (n.name === st.x ? 'x' : n.name === st.m ? 'm' : n.name === st.r && !st.divides ? 'r' : undefined),
      degree: { x: 1, m: 1, r: 1 },
      over: (n) => (st.divides && n.name === st.r ? 'r' : undefined),
    };
    const best = largestEnd(nodes, weights, readers, st.r, st.nodes, leaves, (e) => normalization(e, st.m !== undefined));
    if (!best) continue;
    const { end, form: { gamma, beta } } = best;
    const g = addConstant(nodes, weights, end.name, 'normalization_scale', Float32Array.from(gamma), [gamma.length]);
    const b = addConstant(nodes, weights, end.name, 'normalization_shift', Float32Array.from(beta), [beta.length]);
    nodes.set(end.name, { name: end.name, op: st.m ? '_LayerNorm' : '_RMSNorm', input: [st.x, g, b], attr: { epsilon: { f: st.eps }, axes: { list: { i: st.axes } } } });
  }
}

/** A Mean with keep_dims over constant axes: [its input, the axes]. */
function meanOf(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode | undefined): [string, number[]] | undefined {
  if (n?.op !== 'Mean' || n.attr.keep_dims?.b !== true) return undefined;
  const [x, a] = dataInputs(n);
  const axes = nodeAt(nodes, a)?.op === 'Const' ? constValue(nodes, weights, a) : undefined;
  return axes && [x, [...axes.data]];
}

/**
 * r = Rsqrt(v + eps) (or the Sqrt a value is divided by), v the mean over `axes` of (x - m)^2
 * (SquaredDifference, Square of a Sub, or a Sub times itself) with m x's mean over the same axes,
 * or of x^2 (Square, x times itself: RMS).
 */
function statsAt(nodes: Map<string, GraphNode>, weights: Weights, r: GraphNode): Stats | undefined {
  const seen = new Set<string>([r.name]);
  const a = through(nodes, dataInputs(r)[0], seen);
  if (!a || (a.op !== 'Add' && a.op !== 'AddV2')) return undefined;
  seen.add(a.name);
  const [p, q] = dataInputs(a).map((ref) => through(nodes, ref, seen));
  const [vNode, epsNode] = perChannel(q, weights)?.length === 1 ? [p, q] : [q, p];
  const eps = perChannel(epsNode, weights);
  const v = meanOf(nodes, weights, vNode);
  if (!eps || eps.length !== 1 || !v) return undefined;
  seen.add(vNode!.name);
  const sq = through(nodes, v[0], seen);
  if (!sq) return undefined;
  seen.add(sq.name);
  // The squared value: [x, the value subtracted from it (m), or nothing (RMS)].
  let terms: [string, string | undefined] | undefined;
  const ins = dataInputs(sq);
  const same = (i: number, j: number) => through(nodes, ins[i])?.name === through(nodes, ins[j])?.name;
  if (sq.op === 'SquaredDifference') terms = [ins[0], ins[1]];
  else if (sq.op === 'Square' || (sq.op === 'Mul' && ins.length === 2 && same(0, 1))) {
    const d = through(nodes, ins[0], seen);
    if (d?.op === 'Sub') {
      seen.add(d.name);
      terms = [dataInputs(d)[0], dataInputs(d)[1]];
    } else terms = [ins[0], undefined];
  }
  if (!terms) return undefined;
  const axes = v[1];
  if (terms[1] === undefined) {
    const x = through(nodes, terms[0], seen);
    return x ? { x: x.name, r: r.name, divides: r.op === 'Sqrt', eps: eps[0], axes, nodes: seen } : undefined;
  }
  // Either side of a SquaredDifference may be the mean.
  for (const [xi, mi] of [[0, 1], [1, 0]]) {
    const passed = new Set<string>();
    const m = through(nodes, terms[mi], passed), x = through(nodes, terms[xi]);
    const mean = meanOf(nodes, weights, m);
    if (!m || !x || !mean || through(nodes, mean[0])?.name !== x.name || mean[1].join() !== axes.join()) continue;
    return { x: x.name, m: m.name, r: r.name, divides: r.op === 'Sqrt', eps: eps[0], axes, nodes: new Set([...seen, ...passed, m.name]) };
  }
  return undefined;
}

/** g x r - g m r + b (m absent for RMS): g and b, else undefined. */
function normalization(e: Expr, centred: boolean): { gamma: Float64Array; beta: Float64Array } | undefined {
  const g = e.get('r*x'), mr = e.get('m*r'), b = e.get('') ?? new Float64Array(1);
  if (!g || !only(e, ['r*x', ...(centred ? ['m*r'] : []), ...(e.has('') ? [''] : [])])) return undefined;
  if (!centred) return { gamma: g, beta: b };
  // The same coefficient, negated (it is one tensor in the graph): to float32's rounding of a product.
  const sum = combine(g, mr!, (p, q) => p + q), scale = Math.max(...g.map(Math.abs));
  if (!sum || sum.some((s) => Math.abs(s) > 1e-6 * scale)) return undefined;
  return { gamma: g, beta: b };
}
