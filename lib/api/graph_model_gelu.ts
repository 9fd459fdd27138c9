// GELU in a GraphModel. Keras's gelu and TensorFlow's tf.nn.gelu reach a GraphModel as primitive
// ops around one special function, which grappler then rearranges (Keras 3.15, TensorFlow 2.21):
//
//   exact, TensorFlow 2.21:  0.5 x erfc(-x / sqrt 2)           Mul(Mul(0.5, x), Erfc(Mul(Neg(x), 0.7071)))
//   exact, as BERT writes:   0.5 x (1 + erf(x / sqrt 2))       Mul(Mul(0.5, x), AddV2(1, Erf(Mul(x, 0.7071))))
//   approximate (tanh):      0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))   (Pow as x times Square(x))
//
// Erf and Erfc have no translation of their own, and the tanh form's cube would be two private
// products and a tanh of their rounding; the whole is one private gelu (ops_nonlinear.ts). Each
// group is found by its special function: its argument must read (graph_model_algebra.ts) as k x
// for some node x, and a value after it as the form above in x and the function's value. That
// value's node is replaced by one '_Gelu' node reading x (graph_model_nodes.ts: Keras's gelu, or
// gelu_new for the tanh form).
import { allNear, dataInputs, evaluate, type Expr, largestEnd, type Leaves, nodeAt, only, readersOf } from './graph_model_algebra';
import type { GraphNode, Weights } from './graph_model_ops';

/** What each special function's argument and the value after it must read as, in x and s (the function's value). */
const FORMS: Record<string, { arg: Record<string, number>; out: Record<string, number> }> = {
  Erfc: { arg: { x: -Math.SQRT1_2 }, out: { 's*x': 0.5 } },
  Erf: { arg: { x: Math.SQRT1_2 }, out: { x: 0.5, 's*x': 0.5 } },
  Tanh: { arg: { x: Math.sqrt(2 / Math.PI), 'x^3': Math.sqrt(2 / Math.PI) * 0.044715 }, out: { x: 0.5, 's*x': 0.5 } },
};

/** Nodes below a special function's argument tried as its x (a bound on a pathological graph's work). */
const MAX_CANDIDATES = 16;

/** Replaces each GELU in `nodes` by one '_Gelu' node reading its input (see above). */
export function matchGelus(nodes: Map<string, GraphNode>, weights: Weights): void {
  const readers = readersOf(nodes);
  for (const s of [...nodes.values()]) {
    const form = FORMS[s.op];
    if (!form) continue;
    const arg = argument(nodes, weights, s, form.arg);
    if (!arg) continue;
    const leaves: Leaves = { leaf: (n) => (n.name === arg.x ? 'x' : n.name === s.name ? 's' : undefined), degree: { x: 1, s: 1 } };
    const best = largestEnd(nodes, weights, readers, s.name, new Set([...arg.region, s.name]), leaves, (e) => (matches(e, form.out) ? true : undefined));
    if (best) nodes.set(best.end.name, { name: best.end.name, op: '_Gelu', input: [arg.x], attr: { approximate: { b: s.op === 'Tanh' } } });
  }
}

/**
 * The x of special function s's argument: the node below it (by inputs, nearest first) over which
 * the argument reads as `want`, and the ops read on the way; undefined where none does.
 */
function argument(nodes: Map<string, GraphNode>, weights: Weights, s: GraphNode, want: Record<string, number>): { x: string; region: Set<string> } | undefined {
  const top = nodeAt(nodes, dataInputs(s)[0]);
  if (!top) return undefined;
  const queue = [top], seen = new Set([top.name]);
  for (let i = 0; i < queue.length && i < MAX_CANDIDATES; i++) {
    const x = queue[i];
    if (x.op !== 'Const') {
      const region = new Set<string>();
      const e = evaluate(nodes, weights, { leaf: (n) => (n.name === x.name ? 'x' : undefined), degree: { x: 3 } }, top, region);
      if (e && matches(e, want)) return { x: x.name, region };
    }
    for (const ref of dataInputs(x)) {
      const n = nodeAt(nodes, ref);
      if (n && !seen.has(n.name)) seen.add(n.name), queue.push(n);
    }
  }
  return undefined;
}

/** Whether e is exactly `want`'s monomials with its coefficients (one value for every channel). */
function matches(e: Expr, want: Record<string, number>): boolean {
  return only(e, Object.keys(want)) && Object.entries(want).every(([k, v]) => allNear(e.get(k), v));
}
