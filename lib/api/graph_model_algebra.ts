// Reading a group of a GraphModel's element-wise ops as algebra, for the layers TensorFlow writes as
// primitive ops (graph_model_norms.ts: layer and RMS normalisations; graph_model_gelu.ts: GELU).
// A value is a polynomial in a few named leaves (the group's input x, its mean, its deviation, an
// erf...), each monomial with a coefficient per channel of the last axis (or one for all). Neg,
// Add, Sub, Mul, Square, Pow by a small whole constant, AddN, BiasAdd and RealDiv by a constant are read; anything else is a leaf
// or ends the reading. Matching by value rather than by a list of op orders is what makes grappler's
// rearrangements (AddN of the products, a constant folded into another, Pow as x times Square(x))
// all read the same.
import { constant } from './graph_model_consts';
import type { GraphNode, Weights } from './graph_model_ops';

export const PASS = new Set(['Identity', 'StopGradient', 'Snapshot']);
export const ARITHMETIC = new Set(['Neg', 'Add', 'AddV2', 'AddN', 'BiasAdd', 'Sub', 'Mul', 'RealDiv', 'Square', 'Pow']);

/** Monomial (its leaves' powers, as 'm*r' or 'x^3'; '' for a constant) -> coefficient per channel or for all. */
export type Expr = Map<string, Float64Array>;

export interface Leaves {
  /** The leaf a node is, by name, or undefined to read it as an op. */
  leaf(n: GraphNode): string | undefined;
  /** The highest power of each leaf a monomial may hold (a product past it ends the reading). */
  degree: Record<string, number>;
  /** a / n where n is not a constant: the leaf n's reciprocal is (a deviation's Sqrt: its r), or undefined. */
  over?(n: GraphNode): string | undefined;
}

/** The node whose output 0 `ref` names (undefined for another output or a control input). */
export function nodeAt(nodes: Map<string, GraphNode>, ref: string | undefined): GraphNode | undefined {
  if (ref === undefined || ref.startsWith('^') || /:[1-9]\d*$/.test(ref)) return undefined;
  return nodes.get(ref.replace(/:0$/, ''));
}

export const dataInputs = (n: GraphNode) => n.input.filter((r) => !r.startsWith('^'));

/** The node behind Identity-like ops, each one passed added to `seen` (undefined past a cycle of them: the walk names it). */
export function through(nodes: Map<string, GraphNode>, ref: string | undefined, seen?: Set<string>): GraphNode | undefined {
  let n = nodeAt(nodes, ref);
  const passed = new Set<string>();
  while (n && PASS.has(n.op)) {
    if (passed.has(n.name)) return undefined;
    passed.add(n.name);
    seen?.add(n.name);
    n = nodeAt(nodes, dataInputs(n)[0]);
  }
  return n;
}

/** Every node's data readers (control inputs read no value). */
export function readersOf(nodes: Map<string, GraphNode>): Map<string, string[]> {
  const r = new Map<string, string[]>();
  for (const n of nodes.values())
    for (const ref of dataInputs(n)) {
      const src = ref.replace(/:\d+$/, '');
      const list = r.get(src);
      if (list) list.push(n.name);
      else r.set(src, [n.name]);
    }
  return r;
}

/** Candidate ends searched from one group's start (a bound on a pathological graph's work). */
const MAX_CANDIDATES = 64;

/**
 * The largest value after node `from` (by readers, through arithmetic) that `form` accepts, read over
 * `leaves`, and whose intermediate values (`inside`, what the reading passed) nothing outside reads:
 * the node to replace, and what `form` made of it. An Identity after the group passes its value on:
 * the group ends before it, the node its errors then name.
 */
export function largestEnd<F>(nodes: Map<string, GraphNode>, weights: Weights, readers: Map<string, string[]>, from: string, inside: Set<string>, leaves: Leaves, form: (e: Expr) => F | undefined): { end: GraphNode; form: F } | undefined {
  let best: { end: GraphNode; form: F; size: number } | undefined;
  const queue = [from], queued = new Set(queue);
  for (let i = 0; i < queue.length && i < MAX_CANDIDATES; i++) {
    const n = nodes.get(queue[i])!;
    const region = new Set(inside);
    const e = evaluate(nodes, weights, leaves, n, region);
    const f = e && !PASS.has(n.op) ? form(e) : undefined;
    if (f !== undefined && closed(readers, region, n.name) && (!best || region.size > best.size)) best = { end: n, form: f, size: region.size };
    for (const k of readers.get(n.name) ?? []) {
      const next = nodes.get(k)!;
      if ((ARITHMETIC.has(next.op) || PASS.has(next.op)) && !queued.has(k)) queued.add(k), queue.push(k);
    }
  }
  return best && { end: best.end, form: best.form };
}

/** Whether every value in `region` but `end` is read only inside it (replacing `end` leaves nothing half-read behind). */
export function closed(readers: Map<string, string[]>, region: Set<string>, end: string): boolean {
  for (const name of region) if (name !== end && (readers.get(name) ?? []).some((k) => !region.has(k))) return false;
  return true;
}

/** The constant at `ref` (behind Identity-like ops): its values and shape, else undefined. */
export function constValue(nodes: Map<string, GraphNode>, weights: Weights, ref: string | undefined): { data: Float32Array; shape: number[] } | undefined {
  return constOf(through(nodes, ref), weights);
}

function constOf(n: GraphNode | undefined, weights: Weights): { data: Float32Array; shape: number[] } | undefined {
  if (n?.op !== 'Const') return undefined;
  try {
    const c = constant(n, weights);
    return c.kind === 'const' ? { data: c.data, shape: c.shape } : undefined;
  } catch {
    return undefined;
  }
}

/** The one value of the constant at `ref`, else undefined. */
export function scalarValue(nodes: Map<string, GraphNode>, weights: Weights, ref: string | undefined): number | undefined {
  const c = constValue(nodes, weights, ref);
  return c && c.data.length === 1 ? c.data[0] : undefined;
}

/** A constant of one value per channel of the last axis (or one for all): its values, else undefined. */
export function perChannel(n: GraphNode | undefined, weights: Weights): Float64Array | undefined {
  const c = constOf(n, weights);
  return c && !c.shape.slice(0, -1).some((d) => d !== 1) ? Float64Array.from(c.data) : undefined;
}

/** Adds a constant named after `end` (`end/what`, numbered if taken) to the graph and its weights; returns its name. */
export function addConstant(nodes: Map<string, GraphNode>, weights: Weights, end: string, what: string, data: Float32Array, shape: number[]): string {
  let name = `${end}/${what}`;
  for (let i = 1; nodes.has(name); i++) name = `${end}/${what}_${i}`;
  nodes.set(name, { name, op: 'Const', input: [], attr: {} });
  weights.set(name, { data, shape });
  return name;
}

/**
 * Nodes one reading may visit: a group is a few dozen ops, and a graph that shares values
 * heavily (each read again by the next) would otherwise take exponential time here.
 */
const MAX_VISITS = 4096;

/**
 * The value of node `n` over `leaves`, or undefined; every op node read goes into `region`.
 * Undefined too past MAX_VISITS nodes or around a cycle (the walk then names the cycle).
 */
export function evaluate(nodes: Map<string, GraphNode>, weights: Weights, leaves: Leaves, n: GraphNode | undefined, region: Set<string>): Expr | undefined {
  return read(nodes, weights, leaves, n, region, { visits: 0, open: new Set() });
}

function read(nodes: Map<string, GraphNode>, weights: Weights, leaves: Leaves, n: GraphNode | undefined, region: Set<string>, budget: { visits: number; open: Set<string> }): Expr | undefined {
  if (!n || ++budget.visits > MAX_VISITS || budget.open.has(n.name)) return undefined;
  budget.open.add(n.name);
  try {
    return readNode(nodes, weights, leaves, n, region, budget);
  } finally {
    budget.open.delete(n.name);
  }
}

function readNode(nodes: Map<string, GraphNode>, weights: Weights, leaves: Leaves, n: GraphNode, region: Set<string>, budget: { visits: number; open: Set<string> }): Expr | undefined {
  const leaf = leaves.leaf(n);
  if (leaf !== undefined) return term(leaf);
  if (n.op === 'Const') {
    const c = perChannel(n, weights);
    return c ? new Map([['', c]]) : undefined;
  }
  if (!ARITHMETIC.has(n.op) && !PASS.has(n.op)) return undefined;
  region.add(n.name);
  const ins = dataInputs(n);
  const arg = (i: number) => read(nodes, weights, leaves, nodeAt(nodes, ins[i]), region, budget);
  const d = leaves.degree;
  if (PASS.has(n.op) || n.op === 'Neg' || n.op === 'Square') {
    const v = arg(0);
    return v && (n.op === 'Neg' ? scaled(v, -1) : n.op === 'Square' ? product(v, v, d) : v);
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
  if (n.op === 'Pow') {
    // x^k for k = 1, 2 or 3 (what grappler leaves of tf.pow(x, 3) when it does not rewrite it).
    const a = arg(0), k = perChannel(through(nodes, ins[1]), weights);
    if (!a || k?.length !== 1 || ![1, 2, 3].includes(k[0])) return undefined;
    let p: Expr | undefined = a;
    for (let j = 1; j < k[0] && p; j++) p = product(p, a, d);
    return p;
  }
  if (n.op === 'RealDiv') {
    const a = arg(0), by = through(nodes, ins[1]);
    const inverse = by && leaves.over?.(by);
    if (inverse) return a && product(a, term(inverse), d);
    const c = perChannel(by, weights);
    return a && c && !c.some((v) => v === 0) ? product(a, new Map([['', c.map((v) => 1 / v)]]), d) : undefined;
  }
  const [a, b] = [arg(0), arg(1)];
  if (!a || !b) return undefined;
  if (n.op === 'Mul') return product(a, b, d);
  return sum(a, n.op === 'Sub' ? scaled(b, -1) : b);
}

export const term = (leaf: string): Expr => new Map([[leaf, Float64Array.of(1)]]);

export function scaled(e: Expr, k: number): Expr {
  return new Map([...e].map(([m, c]) => [m, c.map((v) => v * k)]));
}

/** p and q element by element, one of length 1 broadcast; undefined for lengths that do not broadcast. */
export function combine(p: Float64Array, q: Float64Array, f: (a: number, b: number) => number): Float64Array | undefined {
  if (p.length !== q.length && p.length !== 1 && q.length !== 1) return undefined;
  const len = Math.max(p.length, q.length);
  return Float64Array.from({ length: len }, (_, i) => f(p[p.length === 1 ? 0 : i], q[q.length === 1 ? 0 : i]));
}

export function sum(a: Expr, b: Expr): Expr | undefined {
  const s = new Map(a);
  for (const [m, c] of b) {
    const prev = s.get(m);
    const next = prev ? combine(prev, c, (p, q) => p + q) : c;
    if (!next) return undefined;
    s.set(m, next);
  }
  return s;
}

/** Leaf -> power of a monomial key, and back (sorted, so equal monomials have equal keys). */
function powers(key: string): Map<string, number> {
  const p = new Map<string, number>();
  for (const f of key ? key.split('*') : []) {
    const [leaf, k] = f.split('^');
    p.set(leaf, k === undefined ? 1 : Number(k));
  }
  return p;
}

function keyOf(p: Map<string, number>): string {
  return [...p].sort(([a], [b]) => (a < b ? -1 : 1)).map(([leaf, k]) => (k === 1 ? leaf : `${leaf}^${k}`)).join('*');
}

export function product(a: Expr, b: Expr, degree: Record<string, number>): Expr | undefined {
  let s: Expr | undefined = new Map();
  for (const [ma, ca] of a)
    for (const [mb, cb] of b) {
      const p = powers(ma);
      for (const [leaf, k] of powers(mb)) {
        const total = (p.get(leaf) ?? 0) + k;
        if (total > (degree[leaf] ?? 0)) return undefined;
        p.set(leaf, total);
      }
      const c = combine(ca, cb, (x, y) => x * y);
      if (!c || !s) return undefined;
      s = sum(s, new Map([[keyOf(p), c]]));
    }
  return s;
}

/** Whether e holds exactly the monomials of `want` (any other's coefficients all 0). */
export function only(e: Expr, want: string[]): boolean {
  for (const [k, v] of e) if (!want.includes(k) && v.some((c) => c !== 0)) return false;
  return want.every((k) => e.has(k));
}

/** Whether every coefficient of c is k, to float32's rounding (a constant TensorFlow stored as float32). */
export function allNear(c: Float64Array | undefined, k: number): boolean {
  return c !== undefined && c.every((v) => Math.abs(v - k) <= 1e-6 * Math.max(1, Math.abs(k)));
}
