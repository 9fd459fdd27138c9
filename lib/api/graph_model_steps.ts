// A sequence's steps taken one by one, time major, as Keras 3's TimeDistributed writes it in a
// GraphModel (TensorFlow backend): x [batch, steps, ...] transposed to [steps, batch, ...] (or a
// recurrent loop's stack, already time major), each step x_t = StridedSlice(., t) shrinking axis
// 0, the inner layer applied to each, then Transpose(Pack(y_0 .. y_T-1, axis 0), [1, 0, ...]).
// The layers keep the batch axis first, so these are rewritten batch major: x_t as x[:, t], and
// the transpose of the pack as a Pack on axis 1 (graph_model_nodes.ts: each y_t reshaped to one
// step, concatenated), and step t of such a pack read by the next TimeDistributed as y_t itself. `steps` maps a loop's stack to its batch-major '_Recurrent' node.
import { addConstant, constValue, dataInputs, readersOf, through } from './graph_model_algebra';
import type { GraphNode, Weights } from './graph_model_ops';

/** perm swapping the first two axes, the rest in place ([1, 0, 2, ...]). */
const swapsFirstTwo = (p: ArrayLike<number> | undefined) => !!p && p.length >= 2 && p[0] === 1 && p[1] === 0 && Array.from(p).slice(2).every((v, i) => v === i + 2);

/** Rewrites time-major step slices and packs (see above) batch major. */
export function matchTimeMajorSteps(nodes: Map<string, GraphNode>, weights: Weights, stacks: Map<string, string>): void {
  const readers = readersOf(nodes);
  const c = (end: string, what: string, data: number[]) => addConstant(nodes, weights, end, `steps/${what}`, Float32Array.from(data), [data.length]);
  for (const n of [...nodes.values()]) {
    // x_t = StridedSlice(time major, [t], [t + 1], [1]) shrinking axis 0 -> x[:, t].
    if (n.op === 'StridedSlice') {
      const src = through(nodes, dataInputs(n)[0]);
      const [b, e, s] = [1, 2, 3].map((i) => constValue(nodes, weights, dataInputs(n)[i])?.data);
      const mask = (k: string) => Number(n.attr[k]?.i ?? 0);
      if (!src || !b || !e || !s || b.length !== 1 || s[0] !== 1 || mask('shrink_axis_mask') !== 1 || mask('ellipsis_mask') || mask('new_axis_mask') || mask('begin_mask') || mask('end_mask')) continue;
      const t = b[0];
      if (!(t >= 0) || e[0] !== t + 1) continue;
      // Step t of steps packed time major (the TimeDistributed before): the value packed there.
      if (src.op === 'Pack' && Number(src.attr.axis?.i ?? 0) === 0 && t < dataInputs(src).length) {
        nodes.set(n.name, { name: n.name, op: 'Identity', input: [dataInputs(src)[t]], attr: {} });
        continue;
      }
      let x: string | undefined;
      if (src.op === 'Transpose' && swapsFirstTwo(constValue(nodes, weights, dataInputs(src)[1])?.data)) x = dataInputs(src)[0];
      else if (src.op === 'TensorListStack') x = stacks.get(src.name);
      if (!x) continue;
      nodes.set(n.name, { name: n.name, op: 'StridedSlice', input: [x, c(n.name, 'begin', [0, t]), c(n.name, 'end', [0, t + 1]), c(n.name, 'strides', [1, 1])], attr: { begin_mask: { i: 1 }, end_mask: { i: 1 }, shrink_axis_mask: { i: 2 }, ellipsis_mask: { i: 0 }, new_axis_mask: { i: 0 } } });
      continue;
    }
    // Transpose(Pack(ys, axis 0), [1, 0, ...]) -> Pack(ys, axis 1), the pack read by it alone.
    if (n.op === 'Transpose' && swapsFirstTwo(constValue(nodes, weights, dataInputs(n)[1])?.data)) {
      const pack = through(nodes, dataInputs(n)[0]);
      if (pack?.op !== 'Pack' || Number(pack.attr.axis?.i ?? 0) !== 0 || (readers.get(pack.name) ?? []).length !== 1) continue;
      nodes.set(n.name, { name: n.name, op: 'Pack', input: dataInputs(pack), attr: { ...pack.attr, axis: { i: 1 } } });
    }
  }
}
