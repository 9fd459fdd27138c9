// A dilated convolution as TensorFlow writes it when it does not dilate the kernel itself
// (tf.nn.convolution's with_space_to_batch, which Keras 3's Conv1D with a dilation_rate reaches):
//
//   y = BatchToSpaceND(Conv(SpaceToBatchND(x, [d...], pads)), [d...], crops)
//
// the convolution VALID at stride 1 (for a Conv1D between ExpandDims and Squeeze). That is the
// convolution dilated by d over x padded by `pads` (zeros), its output cropped by `crops`; it is
// rewritten so (Pad, the convolution with dilations, a StridedSlice), which the walk translates
// into layers as any other (ZeroPadding, Conv with dilation_rate, a slice).
import { addConstant, constValue, dataInputs, readersOf, through } from './graph_model_algebra';
import type { GraphNode, Weights } from './graph_model_ops';

const CONVS = new Set(['Conv2D', 'DepthwiseConv2dNative']);

/** Rewrites each space-to-batch dilated convolution (see above) as a dilated one. */
export function matchAtrousConvolutions(nodes: Map<string, GraphNode>, weights: Weights): void {
  const readers = readersOf(nodes);
  const only = (n: GraphNode) => (readers.get(n.name) ?? []).length === 1;
  for (const b2s of [...nodes.values()]) {
    if (b2s.op !== 'BatchToSpaceND') continue;
    const [yRef, bsRef, cropsRef] = dataInputs(b2s);
    let y = through(nodes, yRef);
    const squeeze = y?.op === 'Squeeze' ? y : undefined;
    if (squeeze) y = through(nodes, dataInputs(squeeze)[0]);
    const conv = y;
    if (!conv || !CONVS.has(conv.op) || !only(conv) || (squeeze && !only(squeeze))) continue;
    let xs = through(nodes, dataInputs(conv)[0]);
    const expand = xs?.op === 'ExpandDims' ? xs : undefined;
    if (expand) xs = through(nodes, dataInputs(expand)[0]);
    const s2b = xs;
    if (s2b?.op !== 'SpaceToBatchND' || !only(s2b) || (expand && !only(expand)) || !!squeeze !== !!expand) continue;
    const bs = constValue(nodes, weights, bsRef)?.data, bs2 = constValue(nodes, weights, dataInputs(s2b)[1])?.data;
    const pads = constValue(nodes, weights, dataInputs(s2b)[2])?.data, crops = constValue(nodes, weights, cropsRef)?.data;
    const ints = (v: number[] | undefined, k: string) => (conv.attr[k]?.list?.i ?? []).map(Number).join() === (v ?? []).join();
    const str = (k: string) => (conv.attr[k]?.s === undefined ? undefined : Buffer.from(conv.attr[k].s!, 'base64').toString());
    const spatial = expand ? 1 : 2;
    if (!bs || !bs2 || !pads || !crops || bs.join() !== bs2.join() || bs.length !== spatial || pads.length !== 2 * spatial || crops.length !== 2 * spatial) continue;
    if (!ints([1, 1, 1, 1], 'strides') || !(ints([1, 1, 1, 1], 'dilations') || conv.attr.dilations === undefined) || str('padding') !== 'VALID' || (str('data_format') ?? 'NHWC') !== 'NHWC') continue;
    if ([...pads, ...crops].some((v) => !(v >= 0)) || [...bs].some((v) => !(v >= 1))) continue;
    const axis = expand ? constValue(nodes, weights, dataInputs(expand)[1])?.data[0] : undefined;
    const squeezed = squeeze ? (squeeze.attr.squeeze_dims?.list?.i ?? []).map(Number) : [];
    // A Conv1D: ExpandDims at axis 1 (-3 of the rank-4 result), squeezed at the same axis.
    if (expand && (!(axis === 1 || axis === -3) || squeezed.length !== 1 || !(squeezed[0] === 1 || squeezed[0] === -3))) continue;
    const base = b2s.name;
    const c = (what: string, shape: number[], data: number[]) => addConstant(nodes, weights, base, `atrous/${what}`, Float32Array.from(data), shape);
    const x = dataInputs(s2b)[0];
    const rank = spatial + 2;
    const padAll = [0, 0, ...pads, 0, 0];
    const padded = padAll.some((v) => v !== 0) ? (nodes.set(`${base}/atrous/pad`, { name: `${base}/atrous/pad`, op: 'Pad', input: [x, c('paddings', [rank, 2], padAll)], attr: {} }), `${base}/atrous/pad`) : x;
    const into = expand ? (nodes.set(`${base}/atrous/expand`, { ...expand, name: `${base}/atrous/expand`, input: [padded, dataInputs(expand)[1]] }), `${base}/atrous/expand`) : padded;
    const dil = expand ? [1, 1, bs[0], 1] : [1, bs[0], bs[1], 1];
    nodes.set(`${base}/atrous/conv`, { ...conv, name: `${base}/atrous/conv`, input: [into, dataInputs(conv)[1]], attr: { ...conv.attr, dilations: { list: { i: dil.map(String) } } } });
    const convOut = squeeze ? (nodes.set(`${base}/atrous/squeeze`, { ...squeeze, name: `${base}/atrous/squeeze`, input: [`${base}/atrous/conv`] }), `${base}/atrous/squeeze`) : `${base}/atrous/conv`;
    if (crops.every((v) => v === 0)) {
      nodes.set(base, { name: base, op: 'Identity', input: [convOut], attr: {} });
      continue;
    }
    // x[:, c0 : -c1, ...]: begin and end on the spatial axes, the batch and channels whole.
    const begin = [0, ...Array.from({ length: spatial }, (_, i) => crops[2 * i]), 0];
    const end = [0, ...Array.from({ length: spatial }, (_, i) => (crops[2 * i + 1] > 0 ? -crops[2 * i + 1] : 0)), 0];
    let endMask = 1 | (1 << (rank - 1));
    for (let i = 0; i < spatial; i++) if (crops[2 * i + 1] === 0) endMask |= 1 << (i + 1);
    nodes.set(base, {
      name: base,
      op: 'StridedSlice',
      input: [convOut, c('begin', [rank], begin), c('end', [rank], end), c('strides', [rank], Array(rank).fill(1))],
      attr: { begin_mask: { i: 1 | (1 << (rank - 1)) }, end_mask: { i: endMask }, shrink_axis_mask: { i: 0 }, ellipsis_mask: { i: 0 }, new_axis_mask: { i: 0 } },
    });
  }
}
