// GELU as primitive ops, the ways TensorFlow writes it into a GraphModel, for
// test/graph_model_gelu.test.ts: 0.5 x erfc(-x / sqrt 2) (tf.nn.gelu and Keras 3's gelu in
// TensorFlow 2.21), 0.5 x (1 + erf(x / sqrt 2)) (BERT's), and the tanh approximation with the cube
// as grappler rewrites it (x times Square(x)) or as tf.pow leaves it.
import { GraphBuilder, T } from './graph_models';

export type GeluForm = 'erfc' | 'erf' | 'tanh-square' | 'tanh-pow';

/** GELU of x in `form`, node names under p; `k` the constant x is scaled by inside (1/sqrt 2 or sqrt(2/pi) when it is one). */
export function gelu(g: GraphBuilder, p: string, x: string, form: GeluForm, k?: number): string {
  const half = g.node(`${p}/mul`, 'Mul', [g.constant(`${p}/mul/x`, [], [0.5]), x], T);
  if (form === 'erfc') {
    const arg = g.node(`${p}/mul_1`, 'Mul', [g.node(`${p}/Neg`, 'Neg', [x], T), g.constant(`${p}/Cast/x`, [], [k ?? Math.SQRT1_2])], T);
    return g.node(`${p}/mul_2`, 'Mul', [half, g.node(`${p}/Erfc`, 'Erfc', [arg], T)], T);
  }
  if (form === 'erf') {
    const e = g.node(`${p}/Erf`, 'Erf', [g.node(`${p}/truediv`, 'Mul', [x, g.constant(`${p}/Sqrt`, [], [k ?? Math.SQRT1_2])], T)], T);
    return g.node(`${p}/mul_1`, 'Mul', [half, g.node(`${p}/add`, 'AddV2', [g.constant(`${p}/add/x`, [], [1]), e], T)], T);
  }
  const c = k ?? Math.sqrt(2 / Math.PI);
  // 0.044715 x^3: x (0.044715 Square(x)) as grappler rewrites tf.pow(x, 3), or the Pow itself.
  const cubed = form === 'tanh-square'
    ? g.node(`${p}/mul_1`, 'Mul', [x, g.node(`${p}/Pow`, 'Mul', [g.constant(`${p}/Pow/c`, [], [0.044715]), g.node(`${p}/Square`, 'Square', [x], T)], T)], T)
    : g.node(`${p}/mul_1`, 'Mul', [g.constant(`${p}/Pow/c`, [], [0.044715]), g.node(`${p}/Pow`, 'Pow', [x, g.constant(`${p}/Pow/y`, [], [3])], T)], T);
  const inner = g.node(`${p}/add`, 'AddV2', [x, cubed], T);
  const t = g.node(`${p}/Tanh`, 'Tanh', [g.node(`${p}/mul_2`, 'Mul', [g.constant(`${p}/mul_2/x`, [], [c]), inner], T)], T);
  return g.node(`${p}/mul_3`, 'Mul', [half, g.node(`${p}/add_1`, 'AddV2', [g.constant(`${p}/add_1/x`, [], [1]), t], T)], T);
}

/** [-1, 6] through a product and a GELU in each form given (`ks`: their inner constants, where not the right ones). */
export function geluMlp(forms: GeluForm[], ks: (number | undefined)[] = []): { g: GraphBuilder; out: string } {
  const g = new GraphBuilder();
  let h = g.input('x', [-1, 6]);
  forms.forEach((form, j) => {
    const mm = g.node(`d${j}/MatMul`, '_FusedMatMul', [h, g.random(`d${j}/w`, [6, 6], 0.8), g.random(`d${j}/b`, [6], 0.3)], { ...T, fused_ops: { list: { s: [Buffer.from('BiasAdd').toString('base64')] } }, num_args: { i: '1' }, transpose_a: { b: false }, transpose_b: { b: false }, epsilon: { f: 0 } });
    h = gelu(g, `gelu${j}`, mm, form, ks[j]);
  });
  return { g, out: g.node('Identity', 'Identity', [h], T) };
}
