// Layer and RMS normalisations as primitive ops, the ways TensorFlow writes them into a GraphModel,
// for test/graph_model_norms.test.ts: Keras 3's LayerNormalization after grappler's rewrite (as
// test/fixtures/graph_models/gen.py makes it from Keras 3.15), tf.nn.moments with
// tf.nn.batch_normalization, a division by the deviation, Keras's RMSNormalization, and a
// LayerScale's product and a residual sum after one.
import { b, GraphBuilder, T } from './graph_models';

const ax = (g: GraphBuilder, name: string, axis: number) => g.constant(name, [1], [axis], 'int32');
const meanAttrs = { ...T, keep_dims: b(true), Tidx: { type: 'DT_INT32' } };

/** x's mean and r = 1/sqrt(var + eps) over `axis` (the variance from SquaredDifference with StopGradient, as tf.nn.moments writes it). */
function moments(g: GraphBuilder, p: string, x: string, axis: number, eps: number): { m: string; r: string } {
  const m = g.node(`${p}/moments/mean`, 'Mean', [x, ax(g, `${p}/moments/mean/reduction_indices`, axis)], meanAttrs);
  const sg = g.node(`${p}/moments/StopGradient`, 'StopGradient', [m], T);
  const sq = g.node(`${p}/moments/SquaredDifference`, 'SquaredDifference', [x, sg], T);
  const v = g.node(`${p}/moments/variance`, 'Mean', [sq, ax(g, `${p}/moments/variance/reduction_indices`, axis)], meanAttrs);
  const a = g.node(`${p}/add`, 'AddV2', [v, g.constant(`${p}/add/y`, [], [eps])], T);
  return { m, r: g.node(`${p}/Rsqrt`, 'Rsqrt', [a], T) };
}

/** Keras 3's LayerNormalization as grappler leaves it: AddV2(beta, AddN(x g', Neg(m) g')), g' = r gamma. */
export function kerasLayerNorm(g: GraphBuilder, p: string, x: string, c: number, opts: { axis?: number; eps?: number; scale?: boolean; center?: boolean } = {}): string {
  const { m, r } = moments(g, p, x, opts.axis ?? -1, opts.eps ?? 1e-3);
  const neg = g.node(`${p}/Neg`, 'Neg', [m], T);
  const inv = opts.scale === false ? r : g.node(`${p}/mul`, 'Mul', [r, g.random(`${p}/Reshape`, [1, 1, c], 1)], T);
  // (AddN needs equal shapes: without a scale the mean's term is [..., 1], so an AddV2.)
  const terms = [g.node(`${p}/mul_2`, 'Mul', [x, inv], T), g.node(`${p}/mul_1`, 'Mul', [neg, inv], T)];
  const sum = opts.scale === false ? g.node(`${p}/add_1`, 'AddV2', terms, T) : g.node(`${p}/AddN`, 'AddN', terms, { ...T, N: { i: '2' } });
  return opts.center === false ? sum : g.node(`${p}/add_2`, 'AddV2', [g.random(`${p}/Reshape_1`, [1, 1, c], 0.5), sum], T);
}

/** tf.nn.batch_normalization(x, m, v, beta, gamma, eps): x inv + (beta - m inv), inv = r gamma. */
export function batchNormalizationForm(g: GraphBuilder, p: string, x: string, c: number): string {
  const { m, r } = moments(g, p, x, -1, 1e-5);
  const inv = g.node(`${p}/batchnorm/mul`, 'Mul', [r, g.random(`${p}/gamma`, [c], 1)], T);
  const shift = g.node(`${p}/batchnorm/sub`, 'Sub', [g.random(`${p}/beta`, [c], 0.5), g.node(`${p}/batchnorm/mul_2`, 'Mul', [m, inv], T)], T);
  return g.node(`${p}/batchnorm/add_1`, 'AddV2', [g.node(`${p}/batchnorm/mul_1`, 'Mul', [x, inv], T), shift], T);
}

/** (x - m) / sqrt(mean((x - m)^2) + eps) gamma + beta, over axis `axis` given as a positive index. */
export function dividedForm(g: GraphBuilder, p: string, x: string, c: number, axis: number): string {
  const m = g.node(`${p}/Mean`, 'Mean', [x, ax(g, `${p}/Mean/axis`, axis)], meanAttrs);
  const d = g.node(`${p}/sub`, 'Sub', [x, m], T);
  const v = g.node(`${p}/Mean_1`, 'Mean', [g.node(`${p}/Square`, 'Square', [d], T), ax(g, `${p}/Mean_1/axis`, axis)], meanAttrs);
  const sd = g.node(`${p}/Sqrt`, 'Sqrt', [g.node(`${p}/add`, 'AddV2', [v, g.constant(`${p}/add/y`, [], [1e-5])], T)], T);
  const n = g.node(`${p}/truediv`, 'RealDiv', [d, sd], T);
  return g.node(`${p}/add_1`, 'AddV2', [g.node(`${p}/mul`, 'Mul', [n, g.random(`${p}/g`, [c], 1)], T), g.random(`${p}/b`, [c], 0.5)], T);
}

/** Keras's RMSNormalization: x rsqrt(mean(x^2) + eps) scale. */
export function rmsNorm(g: GraphBuilder, p: string, x: string, c: number): string {
  const v = g.node(`${p}/Mean`, 'Mean', [g.node(`${p}/Square`, 'Square', [x], T), ax(g, `${p}/Mean/axis`, -1)], meanAttrs);
  const r = g.node(`${p}/Rsqrt`, 'Rsqrt', [g.node(`${p}/add`, 'AddV2', [v, g.constant(`${p}/add/y`, [], [1e-6])], T)], T);
  return g.node(`${p}/mul_1`, 'Mul', [g.node(`${p}/mul`, 'Mul', [x, r], T), g.random(`${p}/scale`, [c], 1)], T);
}

/** An image through a convolution and every form above, a LayerScale and a residual sum: [-1, 4, 4, 3] in, [-1, 4, 4, 6] out. */
export function normalized(): { g: GraphBuilder; out: string; layers: Record<string, number> } {
  const g = new GraphBuilder();
  const x = g.input('x', [-1, 4, 4, 3]);
  const c = g.node('m/conv/BiasAdd', '_FusedConv2D', [x, g.random('m/conv/k', [3, 3, 3, 6], 0.5), g.random('m/conv/b', [6], 0.5)], {
    ...T, strides: { list: { i: ['1', '1', '1', '1'] } }, padding: { s: Buffer.from('SAME').toString('base64') }, data_format: { s: Buffer.from('NHWC').toString('base64') }, dilations: { list: { i: ['1', '1', '1', '1'] } }, explicit_paddings: { list: {} },
    fused_ops: { list: { s: [Buffer.from('BiasAdd').toString('base64')] } }, num_args: { i: '1' }, epsilon: { f: 0 },
  });
  const ln = kerasLayerNorm(g, 'm/ln', c, 6, { eps: 1e-6 });
  const relu = g.node('m/relu', 'Relu', [ln], T);
  const bn = batchNormalizationForm(g, 'm/bn', relu, 6);
  const rms = rmsNorm(g, 'm/rms', bn, 6);
  const div = dividedForm(g, 'm/div', rms, 6, 3);
  const plain = kerasLayerNorm(g, 'm/plain', div, 6, { scale: false, center: false });
  const scaled = g.node('m/layer_scale/mul', 'Mul', [kerasLayerNorm(g, 'm/ln2', plain, 6), g.random('m/layer_scale/gamma', [6], 0.5)], T);
  const sum = g.node('m/residual', 'AddV2', [plain, scaled], T);
  return { g, out: g.node('Identity', 'Identity', [sum], T), layers: { LayerNormalization: 5, RMSNormalization: 1 } };
}
