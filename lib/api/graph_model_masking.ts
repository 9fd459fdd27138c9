// Keras's Masking layer in a GraphModel (numeric sequences padded with a value c, 0 by default).
// Keras 3.15 writes its step mask as Any(NotEqual(x, c), axis -1): 1 where some feature of the
// step differs from c, and
//
//   the layer's output:  SelectV2(Any(NotEqual(x, c), -1, keep_dims), x, 0)    (or x times its Cast)
//   a recurrent layer after it reads the mask as its loop's TensorList (graph_model_loops.ts)
//
// The first becomes one '_Masking' node (Keras's Masking layer: graph_model_groups.ts), the
// second a mask note naming x and c on the recurrent layer, which the library builds from x's
// shares (layers_mask.ts privateMask: equality tests).
import { constValue, dataInputs, scalarValue, through } from './graph_model_algebra';
import type { GraphNode, Weights } from './graph_model_ops';


/** Any(NotEqual(x, c), -1) of a sequence's features, kept dims as `keep` asks: x's ref and c, else undefined. */
export function stepMaskOf(nodes: Map<string, GraphNode>, weights: Weights, ref: string | undefined, keep: boolean): { x: string; value: number } | undefined {
  const any = through(nodes, ref);
  if (any?.op !== 'Any' || (any.attr.keep_dims?.b === true) !== keep) return undefined;
  const axis = scalarValue(nodes, weights, dataInputs(any)[1]);
  const ne = through(nodes, dataInputs(any)[0]);
  if (!(axis === -1 || axis === 2) || ne?.op !== 'NotEqual') return undefined;
  const [a, b] = dataInputs(ne);
  const [x, c] = scalarValue(nodes, weights, b) !== undefined ? [a, scalarValue(nodes, weights, b)] : [b, scalarValue(nodes, weights, a)];
  return c !== undefined && Number.isFinite(c) && constValue(nodes, weights, x) === undefined ? { x, value: c } : undefined;
}

/** Replaces each Masking layer's output (see above) by one '_Masking' node reading x. */
export function matchMaskingLayers(nodes: Map<string, GraphNode>, weights: Weights): void {
  for (const n of [...nodes.values()]) {
    let m: { x: string; value: number } | undefined, kept: string | undefined;
    if (n.op === 'SelectV2' || n.op === 'Select') {
      const [cond, x, zero] = dataInputs(n);
      m = scalarValue(nodes, weights, zero) === 0 ? stepMaskOf(nodes, weights, cond, true) : undefined;
      kept = x;
    } else if (n.op === 'Mul') {
      for (const [i, j] of [[0, 1], [1, 0]]) {
        const cast = through(nodes, dataInputs(n)[j]);
        const found = cast?.op === 'Cast' ? stepMaskOf(nodes, weights, dataInputs(cast)[0], true) : undefined;
        if (found) [m, kept] = [found, dataInputs(n)[i]];
      }
    }
    if (!m || through(nodes, kept)?.name !== through(nodes, m.x)?.name) continue;
    nodes.set(n.name, { name: n.name, op: '_Masking', input: [m.x], attr: { mask_value: { f: m.value } } });
  }
}
