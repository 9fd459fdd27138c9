// The product of a Dense layer, shared by the layers that are one underneath (Embedding's one-hot
// times its table, a recurrent layer's input projection). Its own module: layers_catalog.ts
// registers those layers, so their files cannot import it from there without an import cycle.
import { add, reshape } from './ops';
import { matmul } from './ops_nonlinear';
import type { AnyTensor, PrivateTensor } from './tensor';

/** x k (+ b) on the last axis of an input of any rank: Dense, and the products of Embedding and the recurrent layers. */
export function dense(x: AnyTensor, k: PrivateTensor, b: AnyTensor | null): AnyTensor {
  const lead = x.shape.slice(0, -1), inner = x.shape[x.rank - 1];
  const flat = x.rank === 2 ? x : reshape(x, [lead.reduce((a, d) => a * d, 1), inner]);
  const y = b ? add(matmul(flat, k), b) : matmul(flat, k);
  return x.rank === 2 ? y : reshape(y, [...lead, k.shape[1]]);
}
