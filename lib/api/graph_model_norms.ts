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
// Rather than list grappler's arrangements, the ops after r are read as algebra: each value a sum
// of terms x r, m r, r, x, m and 1, each with a per-channel (or scalar) constant coefficient, over
// Neg, Add, Sub, Mul, RealDiv by a constant, AddN and BiasAdd. A group is a normalisation when it
// comes to g x r - g m r + b (or g x r + b with no mean: RMS), whatever the order of the steps:
// (x - m) r g + b, x (r g) + (b - m (r g)), and a LayerScale's product after it, folded into g and b.
// The largest such value whose intermediate values nothing else reads is the one replaced, so
// a group never leaves a half behind that the walk would refuse (or compute twice).
import { constant } from './graph_model_consts';
import type { GraphNode, Weights } from './graph_model_ops';

const PASS = new Set(['Identity', 'StopGradient', 'Snapshot']);
const AFFINE = new Set(['Neg', 'Add', 'AddV2', 'AddN', 'BiasAdd', 'Sub', 'Mul', 'RealDiv']);
/** Candidate ends searched from one group's r (a bound on a pathological graph's work). */
const MAX_CANDIDATES = 64;

type Mono = '1' | 'x' | 'm' | 'r' | 'xr' | 'mr';
/** A value as a sum of monomials, each with a coefficient per channel (length C) or for all (length 1). */
type Expr = Map<Mono, Float64Array>;

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
    const best = bestEnd(nodes, weights, readers, st);
    if (!best) continue;
    const { end, gamma, beta } = best;
    const name = (what: string) => {
      let s = `${end.name}/${what}`;
      for (let i = 1; nodes.has(s); i++) s = `${end.name}/${what}_${i}`;
      return s;
    };
    const [g, b] = [name('normalization_scale'), name('normalization_shift')];
    for (const [k, v] of [[g, gamma], [b, beta]] as const) {
      nodes.set(k, { name: k, op: 'Const', input: [], attr: {} });
      weights.set(k, { data: Float32Array.from(v), shape: [v.length] });
    }
    nodes.set(end.name, { name: end.name, op: st.m ? '_LayerNorm' : '_RMSNorm', input: [st.x, g, b], attr: { epsilon: { f: st.eps }, axes: { list: { i: st.axes } } } });
  }
}

/** Every node's data readers (control inputs read no value). */
function readersOf(nodes: Map<string, GraphNode>): Map<string, string[]> {
  const r = new Map<string, string[]>();
  for (const n of nodes.values())
    for (const ref of n.input) {
      if (ref.startsWith('^')) continue;
      const src = ref.replace(/:\d+$/, '');
      r.set(src, [...(r.get(src) ?? []), n.name]);
    }
  return r;
}

/** The node whose output 0 `ref` names (undefined for another output or a control input). */
function nodeAt(nodes: Map<string, GraphNode>, ref: string | undefined): GraphNode | undefined {
  if (ref === undefined || ref.startsWith('^') || /:[1-9]\d*$/.test(ref)) return undefined;
  return nodes.get(ref.replace(/:0$/, ''));
}

const dataInputs = (n: GraphNode) => n.input.filter((r) => !r.startsWith('^'));

/** The node behind Identity-like ops, each passed one added to `seen`. */
function through(nodes: Map<string, GraphNode>, ref: string | undefined, seen?: Set<string>): GraphNode | undefined {
  let n = nodeAt(nodes, ref);
  while (n && PASS.has(n.op)) {
    seen?.add(n.name);
    n = nodeAt(nodes, dataInputs(n)[0]);
  }
  return n;
}

/** A constant of one value per channel of the last axis (or one for all): its values, else undefined. */
function perChannel(n: GraphNode | undefined, weights: Weights): Float64Array | undefined {
  if (!n || n.op !== 'Const') return undefined;
  try {
    const c = constant(n, weights);
    if (c.kind !== 'const' || c.shape.slice(0, -1).some((d) => d !== 1)) return undefined;
    return Float64Array.from(c.data);
  } catch {
    return undefined;
  }
}

/** A Mean with keep_dims over constant axes: [its input, the axes]. */
function meanOf(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode | undefined): [string, number[]] | undefined {
  if (n?.op !== 'Mean' || n.attr.keep_dims?.b !== true) return undefined;
  const [x, a] = dataInputs(n);
  const axes = nodeAt(nodes, a);
  if (!axes || axes.op !== 'Const') return undefined;
  try {
    const c = constant(axes, weights);
    return c.kind === 'const' ? [x, [...c.data]] : undefined;
  } catch {
    return undefined;
  }
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

/**
 * The largest value after r that reads as a normalisation of x and whose intermediate values are
 * read by nothing outside it: the node to replace, and the scale and shift it applies.
 */
function bestEnd(nodes: Map<string, GraphNode>, weights: Weights, readers: Map<string, string[]>, st: Stats): { end: GraphNode; gamma: Float64Array; beta: Float64Array } | undefined {
  let best: { end: GraphNode; gamma: Float64Array; beta: Float64Array; size: number } | undefined;
  const queue = [st.r], queued = new Set(queue);
  for (let i = 0; i < queue.length && i < MAX_CANDIDATES; i++) {
    const n = nodes.get(queue[i])!;
    const region = new Set(st.nodes);
    const e = evaluate(nodes, weights, st, n, region);
    // (An Identity after the group passes its value on: the group ends before it, the node its errors name.)
    const form = e && !PASS.has(n.op) && normalization(e, !!st.m);
    if (form && closed(readers, region, n.name) && (!best || region.size > best.size)) best = { end: n, ...form, size: region.size };
    for (const k of readers.get(n.name) ?? []) {
      const next = nodes.get(k)!;
      if ((AFFINE.has(next.op) || PASS.has(next.op)) && !queued.has(k)) queued.add(k), queue.push(k);
    }
  }
  return best;
}

/** Whether every value in `region` but `end` is read only inside it. */
function closed(readers: Map<string, string[]>, region: Set<string>, end: string): boolean {
  for (const name of region) if (name !== end && (readers.get(name) ?? []).some((k) => !region.has(k))) return false;
  return true;
}

/** g x r - g m r + b (m absent for RMS): g and b, else undefined. */
function normalization(e: Expr, centred: boolean): { gamma: Float64Array; beta: Float64Array } | undefined {
  const g = e.get('xr'), mr = e.get('mr'), b = e.get('1') ?? new Float64Array(1);
  for (const [k, v] of e) if (!['xr', 'mr', '1'].includes(k) && v.some((c) => c !== 0)) return undefined;
  if (!g) return undefined;
  if (!centred) return mr ? undefined : { gamma: g, beta: b };
  if (!mr) return undefined;
  // The same coefficient, negated (it is one tensor in the graph): to float32's rounding of a product.
  const sum = combine(g, mr, (p, q) => p + q), scale = Math.max(...g.map(Math.abs));
  if (!sum || sum.some((s) => Math.abs(s) > 1e-6 * scale)) return undefined;
  return { gamma: g, beta: b };
}

/** The value of node `n` as an Expr of st's x, m and r, or undefined; every node read goes into `region`. */
function evaluate(nodes: Map<string, GraphNode>, weights: Weights, st: Stats, n: GraphNode | undefined, region: Set<string>): Expr | undefined {
  if (!n) return undefined;
  if (n.name === st.x) return term('x');
  if (n.name === st.m) return term('m');
  if (n.name === st.r) return st.divides ? undefined : term('r');
  if (n.op === 'Const') {
    const c = perChannel(n, weights);
    return c ? new Map([['1', c]]) : undefined;
  }
  if (!AFFINE.has(n.op) && !PASS.has(n.op)) return undefined;
  region.add(n.name);
  const ins = dataInputs(n);
  const arg = (i: number) => evaluate(nodes, weights, st, nodeAt(nodes, ins[i]), region);
  if (PASS.has(n.op) || n.op === 'Neg') {
    const v = arg(0);
    return v && (n.op === 'Neg' ? scaled(v, -1) : v);
  }
  if (n.op === 'AddN') {
    let s: Expr | undefined = new Map();
    for (let i = 0; i < ins.length && s; i++) {
      const v = arg(i);
      s = v && sum(s, v);
    }
    return s;
  }
  if (ins.length !== 2) return undefined;
  if (n.op === 'RealDiv') {
    const a = arg(0);
    // x / sqrt(v + eps): times r.
    if (st.divides && through(nodes, ins[1])?.name === st.r) return a && product(a, term('r'));
    const c = perChannel(through(nodes, ins[1]), weights);
    return a && c && !c.some((v) => v === 0) ? product(a, new Map([['1', c.map((v) => 1 / v)]])) : undefined;
  }
  const [a, b] = [arg(0), arg(1)];
  if (!a || !b) return undefined;
  if (n.op === 'Mul') return product(a, b);
  return sum(a, n.op === 'Sub' ? scaled(b, -1) : b);
}

const term = (m: Mono): Expr => new Map([[m, Float64Array.of(1)]]);

function scaled(e: Expr, k: number): Expr {
  return new Map([...e].map(([m, c]) => [m, c.map((v) => v * k)]));
}

/** p and q element by element, one of length 1 broadcast; undefined for lengths that do not broadcast. */
function combine(p: Float64Array, q: Float64Array, f: (a: number, b: number) => number): Float64Array | undefined {
  if (p.length !== q.length && p.length !== 1 && q.length !== 1) return undefined;
  const len = Math.max(p.length, q.length);
  return Float64Array.from({ length: len }, (_, i) => f(p[p.length === 1 ? 0 : i], q[q.length === 1 ? 0 : i]));
}

function sum(a: Expr, b: Expr): Expr | undefined {
  const s = new Map(a);
  for (const [m, c] of b) {
    const prev = s.get(m);
    const next = prev ? combine(prev, c, (p, q) => p + q) : c;
    if (!next) return undefined;
    s.set(m, next);
  }
  return s;
}

/** Monomial products of degree at most one in r and one in x or m; anything else is not a normalisation. */
const TIMES: Record<string, Mono | undefined> = { '1*1': '1', '1*x': 'x', '1*m': 'm', '1*r': 'r', '1*xr': 'xr', '1*mr': 'mr', 'x*r': 'xr', 'm*r': 'mr' };

function product(a: Expr, b: Expr): Expr | undefined {
  let s: Expr | undefined = new Map();
  for (const [ma, ca] of a)
    for (const [mb, cb] of b) {
      const m = TIMES[`${ma}*${mb}`] ?? TIMES[`${mb}*${ma}`];
      const c = combine(ca, cb, (p, q) => p * q);
      if (!m || !c || !s) return undefined;
      s = sum(s, new Map([[m, c]]));
    }
  return s;
}
