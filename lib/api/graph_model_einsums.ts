// Products of two computed values written as transposes around a BatchMatMulV2 (how TensorFlow
// lowers an einsum it does not keep: Keras 3's MultiHeadAttention with dropout, attention written
// with tf.matmul and tf.transpose), read back as the one Einsum they compute, so that the
// attention matchers (graph_model_attention.ts), which read equations for what they contract,
// see the same group either way:
//
//   Transpose(BatchMatMulV2(Transpose(A, pA), Transpose(B, pB)), pC)  ->  Einsum(A, B)
//
// Each transpose is optional; the ranks must be known from one of them. The operands are ordered
// so that the first one's free axis comes first in the output, as Keras writes its equations.
import { constValue, dataInputs, readersOf, through } from './graph_model_algebra';
import type { GraphNode, Weights } from './graph_model_ops';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** A Transpose's permutation, else undefined. */
function permOf(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode | undefined): number[] | undefined {
  const p = n?.op === 'Transpose' ? constValue(nodes, weights, dataInputs(n)[1])?.data : undefined;
  const perm = p ? Array.from(p) : undefined;
  return perm && perm.every((v, i) => perm.indexOf(v) === i && v >= 0 && v < perm.length) ? perm : undefined;
}

/** Rewrites each transposed batch product of two computed values (see above) as an Einsum. */
export function einsumsFromMatMuls(nodes: Map<string, GraphNode>, weights: Weights): void {
  const readers = readersOf(nodes);
  for (const mm of [...nodes.values()]) {
    if (mm.op !== 'BatchMatMulV2' && mm.op !== 'BatchMatMul') continue;
    const [xRef, yRef] = dataInputs(mm);
    if (constValue(nodes, weights, xRef) || constValue(nodes, weights, yRef)) continue;
    const xT = through(nodes, xRef), yT = through(nodes, yRef);
    const px = permOf(nodes, weights, xT), py = permOf(nodes, weights, yT);
    const after = (readers.get(mm.name) ?? []).map((r) => nodes.get(r)!);
    const pc = after.length === 1 ? permOf(nodes, weights, after[0]) : undefined;
    const rank = (px ?? py ?? pc)?.length;
    if (!rank || rank < 3 || [px, py, pc].some((p) => p && p.length !== rank)) continue;
    // Letters of the product's operands as the matmul sees them.
    const batch = LETTERS.slice(0, rank - 2).split('');
    const [m, k, n] = LETTERS.slice(rank - 2, rank + 1).split('');
    const xs = mm.attr.adj_x?.b ? [...batch, k, m] : [...batch, m, k];
    const ys = mm.attr.adj_y?.b ? [...batch, n, k] : [...batch, k, n];
    // The letters of A and B (before their transposes): X[i] = A[pA[i]].
    const before = (letters: string[], p?: number[]) => {
      if (!p) return letters;
      const out = new Array<string>(rank);
      p.forEach((from, i) => (out[from] = letters[i]));
      return out;
    };
    const a = before(xs, px), b = before(ys, py);
    const prod = [...batch, m, n];
    const out = pc ? pc.map((i) => prod[i]) : prod;
    const end = pc ? after[0] : mm;
    const A = px ? dataInputs(xT!)[0] : xRef, B = py ? dataInputs(yT!)[0] : yRef;
    // The operand whose free axis comes first in the output goes first.
    const swap = out.indexOf(n) < out.indexOf(m);
    const equation = swap ? `${b.join('')},${a.join('')}->${out.join('')}` : `${a.join('')},${b.join('')}->${out.join('')}`;
    nodes.set(end.name, { name: end.name, op: 'Einsum', input: swap ? [B, A] : [A, B], attr: { equation: { s: Buffer.from(equation).toString('base64') }, N: { i: 2 } } });
    // The transposes and the product that only this read are gone (the matchers check that a
    // group's values are read inside it alone).
    const gone = [end === mm ? undefined : mm, px ? xT : undefined, py ? yT : undefined];
    for (const g of gone) if (g && g !== end && (readers.get(g.name) ?? []).every((r) => r === mm.name || r === end.name)) nodes.delete(g.name);
  }
}
