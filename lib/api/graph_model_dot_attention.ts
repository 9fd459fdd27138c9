// Keras's Attention layer (Luong's dot-product attention) in a GraphModel. Keras 3.15 writes it,
// after the converter's passes, over q [batch, Tq, d], k [batch, Tv, d] and v [batch, Tv, dv], as
//
//   s = BatchMatMulV2(q, k, adj_y)                          (grappler folds k's transpose into it)
//   s = Mul(s, scale)                                       (use_scale: a learned scalar)
//   w = Softmax(s);  o = BatchMatMulV2(w, v)
//
// and with Keras's padding mask on self-attention (Embedding(mask_zero) before it), the keys'
// mask lowers padded keys' scores, s = SelectV2(ExpandDims(LogicalNot(m), 1), s - 1e9, s), and the
// queries' zeroes padded steps' outputs, o = SelectV2(ExpandDims(m, -1), o, 0). Each such group
// becomes one '_DotAttention' node (graph_model_nodes.ts makes Keras's Attention layer of it, the
// scale a private weight, the mask named in its call). A group that differs (another mask, one
// mask without the other, intermediate values read elsewhere) is left alone: its BatchMatMulV2 of
// two computed values is then refused.
import { addConstant, closed, constValue, dataInputs, readersOf, scalarValue, through } from './graph_model_algebra';
import { paddingSource } from './graph_model_masks';
import type { GraphNode, Weights } from './graph_model_ops';

const isMatMul = (n: GraphNode | undefined) => n?.op === 'BatchMatMulV2' || n?.op === 'BatchMatMul';

/** ExpandDims(x, axis) with `axis` among `axes`: x's ref. */
function expanded(nodes: Map<string, GraphNode>, weights: Weights, n: GraphNode | undefined, axes: number[]): string | undefined {
  return n?.op === 'ExpandDims' && axes.includes(scalarValue(nodes, weights, dataInputs(n)[1]) ?? NaN) ? dataInputs(n)[0] : undefined;
}

/** Replaces each dot-product attention (see above) by one '_DotAttention' node. */
export function matchDotAttentions(nodes: Map<string, GraphNode>, weights: Weights): void {
  const readers = readersOf(nodes);
  for (const mm2 of [...nodes.values()]) {
    if (!isMatMul(mm2) || mm2.attr.adj_x?.b || mm2.attr.adj_y?.b) continue;
    const region = new Set<string>([mm2.name]);
    const [wRef, vRef] = dataInputs(mm2);
    const sm = through(nodes, wRef, region);
    if (sm?.op !== 'Softmax') continue;
    region.add(sm.name);
    let s = through(nodes, dataInputs(sm)[0], region);
    // The keys' padding mask: SelectV2(ExpandDims(LogicalNot(m), 1), s - c, s), c >= 1e4.
    let keySource: string | undefined;
    if (s?.op === 'SelectV2') {
      const [cond, lowered, kept] = dataInputs(s);
      const not = through(nodes, expanded(nodes, weights, through(nodes, cond), [1]));
      const sub = through(nodes, lowered);
      keySource = not?.op === 'LogicalNot' ? paddingSource(nodes, weights, dataInputs(not)[0]) : undefined;
      const c = sub?.op === 'Sub' ? scalarValue(nodes, weights, dataInputs(sub)[1]) : undefined;
      if (!keySource || !sub || c === undefined || !(c >= 1e4) || through(nodes, dataInputs(sub)[0])?.name !== through(nodes, kept)?.name) continue;
      region.add(s.name).add(sub.name);
      s = through(nodes, kept, region);
    }
    let scale: Float32Array | undefined;
    if (s?.op === 'Mul') {
      const ins = dataInputs(s);
      const at = [0, 1].find((i) => scalarValue(nodes, weights, ins[i]) !== undefined);
      if (at === undefined) continue;
      scale = Float32Array.of(scalarValue(nodes, weights, ins[at])!);
      region.add(s.name);
      s = through(nodes, ins[1 - at], region);
    }
    // The scores: q times k transposed.
    if (!isMatMul(s) || s!.attr.adj_x?.b) continue;
    region.add(s!.name);
    let [qRef, kRef] = dataInputs(s!);
    if (!s!.attr.adj_y?.b) {
      const t = through(nodes, kRef, region);
      const perm = t?.op === 'Transpose' ? constValue(nodes, weights, dataInputs(t)[1]) : undefined;
      if (!perm || [...perm.data].join() !== '0,2,1') continue;
      region.add(t!.name);
      kRef = dataInputs(t!)[0];
    }
    // The queries' mask on the output: SelectV2(ExpandDims(m, -1), o, 0), with the keys' only.
    let end = mm2;
    const after = (readers.get(mm2.name) ?? []).map((r) => nodes.get(r)!);
    if (keySource) {
      const sel = after.length === 1 && after[0].op === 'SelectV2' ? after[0] : undefined;
      const [cond, o, zero] = sel ? dataInputs(sel) : [];
      const qSource = sel ? paddingSource(nodes, weights, expanded(nodes, weights, through(nodes, cond), [2, -1])) : undefined;
      if (!sel || qSource !== keySource || through(nodes, o)?.name !== mm2.name || scalarValue(nodes, weights, zero) !== 0) continue;
      end = sel;
      region.add(sel.name);
    }
    if (!closed(readers, region, end.name)) continue;
    const q = through(nodes, qRef)?.name, k = through(nodes, kRef)?.name, v = through(nodes, vRef)?.name;
    if (!q || !k || !v) continue;
    const inputs = [q, v, k, ...(scale ? [addConstant(nodes, weights, end.name, 'scale', scale, [])] : []), ...(keySource ? [keySource] : [])];
    nodes.set(end.name, { name: end.name, op: '_DotAttention', input: inputs, attr: { use_scale: { b: !!scale }, masked: { b: !!keySource } } });
  }
}
