// Keras's MultiHeadAttention in a GraphModel. Keras 3.15 writes it, after the converter's passes,
// as (per projection p of query, key and value, over rank-3 inputs [batch, steps, features]):
//
//   p  = AddV2(Reshape(BatchMatMulV2(x_p, W_p [D, N*H]), [-1, T, N, H]), b_p [N, H])
//   s  = Mul(Einsum("BTNH,BSNH->BNTS", q, k), 1/sqrt(H))       (or q scaled before the Einsum)
//   o  = Einsum("BNTS,BSNH->BTNH", Softmax(s), v)
//   y  = BiasAdd(BatchMatMulV2(Reshape(o, [-1, T, N*W]), W_o [N*W, D']), b_o)
//
// Einsum of two computed values, a bias over two axes and a softmax over scores have no
// translation one by one; the whole is Keras's MultiHeadAttention, which the library runs
// (layers_attention.ts). So before the walk each such group is found (the equations read for what
// they contract, not by their letters) and y's node replaced by one '_MultiHeadAttention' node
// reading the query, value and key inputs and the layer's weights, as new constants
// (graph_model_nodes.ts makes the layer). Keras's causal mask (use_causal_mask: a SelectV2 of the
// scores by a lower triangle, constant or made from their shape) is the layer's call argument, and
// so is a padding mask on self-attention (Embedding(mask_zero) before it: graph_model_masks.ts).
// A group that differs (another scale, another mask on the scores, an intermediate value read
// elsewhere) is left alone: its Einsum is then refused.
import { addConstant, closed, constValue, dataInputs, perChannel, readersOf, through } from './graph_model_algebra';
import { attentionMask } from './graph_model_masks';
import type { GraphNode, Weights } from './graph_model_ops';

/** One projection: its input, its kernel [D, N*W] and bias [N*W] (zeros where it has none), and the nodes it took. */
interface Projection {
  x: string;
  kernel: Float32Array;
  d: number;
  bias: Float32Array;
  heads: number;
  width: number;
  nodes: string[];
}

/** Replaces each MultiHeadAttention written as primitive ops (see above) by one node. */
export function matchAttentions(nodes: Map<string, GraphNode>, weights: Weights): void {
  const readers = readersOf(nodes);
  for (const e2 of [...nodes.values()]) {
    if (e2.op !== 'Einsum') continue;
    const found = attentionAt(nodes, weights, readers, e2);
    if (!found) continue;
    const { end, q, k, v, out, outBias, region, causal, padding } = found;
    if (!closed(readers, region, end.name)) continue;
    const inputs = [q.x, v.x, k.x];
    const consts: [string, Float32Array, number[]][] = [
      ['query/kernel', q.kernel, [q.d, q.heads, q.width]],
      ['query/bias', q.bias, [q.heads, q.width]],
      ['key/kernel', k.kernel, [k.d, k.heads, k.width]],
      ['key/bias', k.bias, [k.heads, k.width]],
      ['value/kernel', v.kernel, [v.d, v.heads, v.width]],
      ['value/bias', v.bias, [v.heads, v.width]],
      ['attention_output/kernel', out.kernel, [v.heads, v.width, out.dOut]],
      ['attention_output/bias', outBias, [out.dOut]],
    ];
    for (const [what, data, shape] of consts) inputs.push(addConstant(nodes, weights, end.name, what, data, shape));
    // Keras's padding mask (graph_model_masks.ts): the int input whose ids give it, read last.
    if (padding) inputs.push(padding);
    nodes.set(end.name, { name: end.name, op: '_MultiHeadAttention', input: inputs, attr: { num_heads: { i: q.heads }, key_dim: { i: q.width }, value_dim: { i: v.width }, use_causal_mask: { b: causal } } });
  }
}

/** An Einsum's operands' and output's axis letters, or undefined for anything but two operands. */
function equation(n: GraphNode): { a: string; b: string; out: string } | undefined {
  const s = n.attr.equation?.s;
  const eq = s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8').replace(/\s/g, '');
  const m = eq && /^([A-Za-z]+),([A-Za-z]+)->([A-Za-z]+)$/.exec(eq);
  return m ? { a: m[1], b: m[2], out: m[3] } : undefined;
}

/**
 * o = Einsum(Softmax(scores), v) at `e2`, the scores Einsum(q, k) (times 1/sqrt(H)), and the output
 * projection after o: the group, or undefined where any step differs.
 */
function attentionAt(nodes: Map<string, GraphNode>, weights: Weights, readers: Map<string, string[]>, e2: GraphNode) {
  const region = new Set<string>([e2.name]);
  const eq2 = equation(e2);
  const [smRef, vRef] = dataInputs(e2);
  const sm = through(nodes, smRef, region);
  if (!eq2 || sm?.op !== 'Softmax') return undefined;
  region.add(sm.name);
  // Keras's causal mask (use_causal_mask): the scores where a lower-triangular mask holds, a large
  // negative number elsewhere.
  let scores = through(nodes, dataInputs(sm)[0], region), scale = 1;
  const mask = scores?.op === 'SelectV2' ? attentionMask(nodes, weights, scores, region) : undefined;
  if (scores?.op === 'SelectV2') {
    if (!mask) return undefined;
    region.add(scores.name);
    scores = through(nodes, mask.scores, region);
  }
  const scaled = scalarProduct(nodes, weights, scores);
  if (scaled) {
    region.add(scores!.name);
    [scores, scale] = [through(nodes, scaled.of, region), scaled.by];
  }
  const eq1 = scores?.op === 'Einsum' ? equation(scores) : undefined;
  if (!scores || !eq1) return undefined;
  region.add(scores.name);
  const [qRef, kRef] = dataInputs(scores);
  let qNode = through(nodes, qRef, region);
  const qScaled = scalarProduct(nodes, weights, qNode);
  if (qScaled) {
    region.add(qNode!.name);
    qNode = through(nodes, qScaled.of, region);
    scale *= qScaled.by;
  }
  const [q, k, v] = [qNode, through(nodes, kRef, region), through(nodes, vRef, region)].map((n) => projection(nodes, weights, n));
  if (!q || !k || !v || !scoresAxes(eq1) || !combineAxes(eq2)) return undefined;
  if (q.heads !== k.heads || q.width !== k.width || v.heads !== q.heads) return undefined;
  // Keras's layer scales by 1/sqrt(key_dim) itself: another scale is not this layer.
  if (Math.abs(scale * Math.sqrt(q.width) - 1) > 1e-6) return undefined;
  for (const p of [q, k, v]) for (const name of p.nodes) region.add(name);
  // The output projection: Reshape to [.., N*W], a product by [N*W, D'], a bias.
  const only = (n: GraphNode) => {
    const r = readers.get(n.name) ?? [];
    return r.length === 1 ? nodes.get(r[0]) : undefined;
  };
  const flat = only(e2);
  if (flat?.op !== 'Reshape') return undefined;
  const shape = constValue(nodes, weights, dataInputs(flat)[1]);
  if (!shape || shape.data.length !== 3 || shape.data[2] !== v.heads * v.width) return undefined;
  region.add(flat.name);
  const mm = only(flat);
  const w = mm && (mm.op === 'BatchMatMulV2' || mm.op === 'BatchMatMul' || mm.op === 'MatMul') && !mm.attr.adj_x?.b && !mm.attr.adj_y?.b && !mm.attr.transpose_a?.b && !mm.attr.transpose_b?.b ? constValue(nodes, weights, dataInputs(mm)[1]) : undefined;
  if (!mm || !w || w.shape.length !== 2 || w.shape[0] !== v.heads * v.width) return undefined;
  region.add(mm.name);
  const dOut = w.shape[1];
  const after = only(mm);
  const b = after && (after.op === 'BiasAdd' || after.op === 'AddV2' || after.op === 'Add') ? perChannel(through(nodes, dataInputs(after).find((r) => through(nodes, r)?.name !== mm.name)), weights) : undefined;
  const end = b && b.length === dOut ? after! : mm;
  region.add(end.name);
  return { end, q, k, v, out: { kernel: w.data, dOut }, outBias: end === mm ? new Float32Array(dOut) : Float32Array.from(b!), region, causal: mask?.causal === true, padding: mask?.padding };
}

/** Mul(x, c) with c one constant: x's ref and c. */
function scalarProduct(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode | undefined): { of: string; by: number } | undefined {
  if (n?.op !== 'Mul') return undefined;
  const ins = dataInputs(n);
  for (const [i, j] of [[0, 1], [1, 0]]) {
    const c = perChannel(through(nodes, ins[j]), weights);
    if (c?.length === 1) return { of: ins[i], by: c[0] };
  }
  return undefined;
}

/**
 * A projection to heads: AddV2(Reshape(BatchMatMulV2(x, W [D, N*W]), [-1, T, N, W]), b [N, W]), the
 * bias optional.
 */
function projection(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode | undefined): Projection | undefined {
  const taken = new Set<string>();
  let bias: Float32Array | undefined;
  if (n && (n.op === 'AddV2' || n.op === 'Add')) {
    const ins = dataInputs(n);
    const c = [0, 1].map((i) => constValue(nodes, weights, ins[i]));
    const at = c[0] ? 0 : c[1] ? 1 : -1;
    if (at < 0) return undefined;
    bias = c[at]!.data;
    taken.add(n.name);
    n = through(nodes, ins[1 - at], taken);
  }
  if (n?.op !== 'Reshape') return undefined;
  taken.add(n.name);
  const shape = constValue(nodes, weights, dataInputs(n)[1]);
  const mm = through(nodes, dataInputs(n)[0], taken);
  if (!shape || shape.data.length !== 4 || !mm || (mm.op !== 'BatchMatMulV2' && mm.op !== 'BatchMatMul') || mm.attr.adj_x?.b || mm.attr.adj_y?.b) return undefined;
  taken.add(mm.name);
  const [heads, width] = [shape.data[2], shape.data[3]];
  const w = constValue(nodes, weights, dataInputs(mm)[1]);
  const x = through(nodes, dataInputs(mm)[0]);
  if (!w || !x || w.shape.length !== 2 || w.shape[1] !== heads * width || !(heads >= 1 && width >= 1)) return undefined;
  if (bias && bias.length !== heads * width) return undefined;
  return { x: x.name, kernel: w.data, d: w.shape[0], bias: bias ?? new Float32Array(heads * width), heads, width, nodes: [...taken] };
}

/** q [B, Tq, N, H] and k [B, Tk, N, H] to scores [B, N, Tq, Tk]: H contracted, whatever the letters. */
function scoresAxes(e: { a: string; b: string; out: string }): boolean {
  const [B, Tq, N, H] = e.a, [B2, Tk, N2, H2] = e.b;
  return e.a.length === 4 && e.b.length === 4 && new Set([B, Tq, N, H, Tk]).size === 5 && B2 === B && N2 === N && H2 === H && e.out === `${B}${N}${Tq}${Tk}`;
}

/** w [B, N, Tq, Tk] and v [B, Tk, N, W] to [B, Tq, N, W]: Tk contracted. */
function combineAxes(e: { a: string; b: string; out: string }): boolean {
  const [B, N, Tq, Tk] = e.a, [B2, Tk2, N2, W] = e.b;
  return e.a.length === 4 && e.b.length === 4 && new Set([B, N, Tq, Tk, W]).size === 5 && B2 === B && Tk2 === Tk && N2 === N && e.out === `${B}${Tq}${N}${W}`;
}
