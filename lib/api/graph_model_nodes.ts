// One GraphModel node at a time: the layer (or constant) it becomes, given its inputs' values
// (graph_model.ts walks the graph in order). The ops with weights are in graph_model_ops.ts, the
// constants and shape arithmetic in graph_model_consts.ts; anything not named here is refused.
import { castIds, castToInt, checkIdReaders, embedding } from './graph_model_ids';
import { attention, dotAttention, maskedMean, masking, recurrent } from './graph_model_groups';
import { type KeyEntry, SLICE_LAYER, sliceBounds } from './layers_slice';
import { RESIZE_LAYER } from './image_resize';
import { volumeConv, volumePool, volumeTransposedConv } from './graph_model_volumes';
import { constant, gathered, joined, packed, product, reshaped, shapeOf, squeezed, stridedSlice, withConstant } from './graph_model_consts';
import {
  ACTIVATIONS, activation, addLayer, channelsLast, constArg, conv, type Dim, dimsOf, fail, type GraphNode, imageOut, intOf, ints, type Layer, layerArg, matmul, mergedAs, needArgs, paddingOf, spatial, transposedConv, type Translated, type Val, type Weights,
} from './graph_model_ops';

const SUPPORTED = 'convolutions, depthwise and transposed ones (Conv2DBackpropInput), fused or not, 3-D ones on volumes (Conv3D, Conv3DBackpropInputV2, MaxPool3D, AvgPool3D), dilated ones written with SpaceToBatchND and BatchToSpaceND, MatMul, BatchMatMulV2 by a matrix, BiasAdd, the activations, Softmax, MaxPool, AvgPool, Mean and Max over a volume, an image, the steps of a sequence or its features, GatherV2 of a constant table by token ids (an int input: an Embedding), FusedBatchNorm, ConcatV2, Pad (of an image\'s spatial axes or a sequence\'s steps), a StridedSlice keeping the batch whole (a crop of an image: Cropping2D), Reshape, Squeeze, ExpandDims, Transpose, the shape ops of a Flatten, TimeDistributed\'s steps (time-major slices, a Pack of the results), Add, Sub, Mul, RealDiv of two values or of a value and a per-channel constant, AddN, Maximum and Minimum of two values or of a value and a constant (a clip), Neg, Square, a layer or RMS normalisation over the last axis (its Mean, SquaredDifference and Rsqrt), GELU (its Erf, Erfc or tanh form), the MultiHeadAttention of Keras 3 (its Einsums and Softmax; causal, and on a sequence of token ids with their padding mask), dot-product attention (Keras\'s Attention: two BatchMatMulV2 around a Softmax), the masked mean of GlobalAveragePooling1D after Embedding(mask_zero), Keras\'s Masking layer before a recurrent one, ResizeBilinear and ResizeNearestNeighbor with half-pixel centers, the while loops of Keras\'s LSTM, GRU and SimpleRNN, ReverseV2 over axes other than the batch\'s';

/** The ops of a while loop and its TensorLists (graph_model_loops.ts). */
export const LOOP_OPS = new Set(['Enter', 'Exit', 'Merge', 'Switch', 'NextIteration', 'LoopCond', 'TensorListReserve', 'TensorListFromTensor', 'TensorListStack', 'TensorListGetItem', 'TensorListSetItem', 'TensorListLength', 'While', 'StatelessWhile']);

/** Ops that pass their input on unchanged. */
const PASS = new Set(['Identity', 'StopGradient', 'Snapshot', 'EnsureShape', 'PreventGradient']);
const ELEMENTWISE = new Set(['BiasAdd', 'Add', 'AddV2', 'Sub', 'Mul', 'RealDiv']);

/** The layers and constants of one node, given its inputs' values. */
export function translateNode(n: GraphNode, args: Val[], weights: Weights, out: Translated): Val[] {
  const op = n.op;
  if (op === 'Const') return [constant(n, weights)];
  if (op === 'Placeholder') return [input(n, out)];
  checkIdReaders(n, args);
  if (op === 'Cast' && args[0]?.kind === 'layer' && args[0].ids) return [castIds(n, args)];
  if (op === 'Cast' && args[0]?.kind === 'layer' && ['DT_INT32', 'DT_INT64'].includes(String(n.attr.DstT?.type))) castToInt(n);
  if (op === 'GatherV2' && args[1]?.kind === 'layer') return [embedding(n, args, out)];
  if (PASS.has(op) || (op === 'IdentityN' && args.length === 1)) {
    // Its readers read the value it passes: counted so, a bias merges only into a layer read once.
    const v = args[0];
    if (v?.kind === 'layer') out.consumers.set(v.node, (out.consumers.get(v.node) ?? 1) - 1 + (out.consumers.get(n.name) ?? 0));
    return [v];
  }
  if (op === 'Shape') return [shapeOf(n, args)];
  if (op === 'StridedSlice') return [args[0]?.kind === 'layer' ? slice(n, args, out) : stridedSlice(n, args)];
  if (op === 'Pack' && args.every((a) => a.kind === 'const' && a.shape.length === 0)) return [packed(n, args)];
  if (op === 'Pack' && args.length > 0 && args.every((a) => a.kind === 'layer')) return [stacked(n, args, out)];
  if (op === 'Prod' && args[0]?.kind === 'const') return [product(n, args)];
  if (op === 'GatherV2' && args.every((a) => a.kind === 'const')) return [gathered(n, args)];
  if (op === 'Reshape') {
    needArgs(n, args, 2);
    return [reshaped(n, layerArg(n, args[0], 'its input', true), dimsOf(constArg(n, args[1], 'its shape')), out)];
  }
  if (op === 'Squeeze') {
    needArgs(n, args, 1);
    return [squeezed(n, layerArg(n, args[0]), ints(n, 'squeeze_dims').length > 0 ? ints(n, 'squeeze_dims') : ints(n, 'axis'), out)];
  }
  if (op === '_FusedConv2D' || op === 'Conv2D') return [conv(n, args, out, false, op === '_FusedConv2D')];
  if (op === 'DepthwiseConv2dNative' || op === 'DepthwiseConv2d' || op === 'FusedDepthwiseConv2dNative') return [conv(n, args, out, true, op === 'FusedDepthwiseConv2dNative')];
  if (op === 'Conv2DBackpropInput') return [transposedConv(n, args, out)];
  if (op === 'Conv3D') return [volumeConv(n, args, out)];
  if (op === 'Conv3DBackpropInputV2') return [volumeTransposedConv(n, args, out)];
  if (op === 'MaxPool3D' || op === 'AvgPool3D') return [volumePool(n, args, out)];
  if (op === '_FusedMatMul' || op === 'MatMul') return [matmul(n, args, out, op === '_FusedMatMul')];
  // Keras 3's Dense on a sequence: a batched product by one matrix, over the last axis.
  if ((op === 'BatchMatMulV2' || op === 'BatchMatMul') && args[1]?.kind === 'const' && args[1].shape.length === 2) {
    if (n.attr.adj_x?.b || n.attr.adj_y?.b) fail(n, 'adj_x and adj_y are not supported');
    return [matmul(n, args, out, false)];
  }
  if (op === 'ExpandDims') {
    needArgs(n, args, 2);
    const x = layerArg(n, args[0]), r = x.shape.length;
    const d = constArg(n, args[1], 'its axis').data[0], at = d < 0 ? d + r + 1 : d;
    if (at <= 0 || at > r) fail(n, `inserts axis ${d} of rank-${r} values: before the batch axis, or none`);
    return [reshaped(n, x, ['B', ...x.shape.slice(1, at), 1, ...x.shape.slice(at)], out)];
  }
  if (op === 'Transpose') {
    needArgs(n, args, 2);
    const x = layerArg(n, args[0]);
    const perm = [...constArg(n, args[1], 'its permutation').data];
    if (perm.length !== x.shape.length || perm[0] !== 0 || [...perm].sort((p, q) => p - q).some((p, k) => p !== k)) fail(n, `permutes [${perm}]: the batch axis must stay first`);
    return [addLayer(out, n, 'Permute', { dims: perm.slice(1) }, [x], perm.map((p) => x.shape[p]))];
  }
  if ((op === 'Maximum' || op === 'Minimum') && args.length === 2 && args.some((a) => a.kind === 'const') && args.some((a) => a.kind === 'layer')) return [clipped(n, args, out)];
  if (op === 'AddN' || op === 'Maximum' || op === 'Minimum') {
    const xs = args.map((a, k) => layerArg(n, a, `its input ${k}`));
    if (op !== 'AddN') needArgs(n, args, 2);
    return [addLayer(out, n, op === 'AddN' ? 'Add' : op, {}, xs, broadcast(n, xs))];
  }
  if (ACTIVATIONS[op]) {
    needArgs(n, args, 1);
    return [activation(out, n, op, layerArg(n, args[0], 'its input', true))];
  }
  if (op === 'Softmax') {
    needArgs(n, args, 1);
    const x = layerArg(n, args[0]);
    return [addLayer(out, n, 'Softmax', { axis: -1 }, [x], x.shape)];
  }
  if (op === 'MaxPool' || op === 'AvgPool') return [pool(n, args, out)];
  if (op === 'Mean' || op === 'Max') return [globalPool(n, args, out)];
  if (op === 'FusedBatchNorm' || op === 'FusedBatchNormV2' || op === 'FusedBatchNormV3') return [batchNorm(n, args, out)];
  if (ELEMENTWISE.has(op)) return [elementwise(n, args, out)];
  if (op === 'Square') {
    needArgs(n, args, 1);
    const x = layerArg(n, args[0]);
    return [addLayer(out, n, 'Multiply', {}, [x, x], x.shape)];
  }
  if (op === 'Neg') {
    // -x: a scale of -1 for every channel (a public sign, but a constant like any other: private).
    needArgs(n, args, 1);
    return [withConstant({ ...n, op: 'Mul' }, layerArg(n, args[0], 'its input', true), { kind: 'const', shape: [], data: Float32Array.of(-1) }, false, out)];
  }
  if (op === 'ConcatV2') return [concat(n, args, out)];
  if (op === '_LayerNorm' || op === '_RMSNorm') return [normalization(n, args, out)];
  if (op === '_MultiHeadAttention') return [attention(n, args, out)];
  if (op === '_MaskedMean') return [maskedMean(n, args, out)];
  if (op === '_Masking') return [masking(n, args, out)];
  if (op === '_DotAttention') return [dotAttention(n, args, out)];
  if (op === '_Recurrent') return recurrent(n, args, out);
  if ((op === 'BatchMatMulV2' || op === 'BatchMatMul') && args[1]?.kind === 'layer') fail(n, "a product of two computed values is supported only inside an attention as Keras writes it (Attention: softmax(q k' [times a scale]) v, with the padding mask on both queries and keys or none; MultiHeadAttention's Einsums)");
  if (op === 'SpaceToBatchND' || op === 'BatchToSpaceND') fail(n, 'supported only around one convolution at stride 1, VALID, between them with the same block shape (a dilated convolution as TensorFlow writes it: graph_model_atrous.ts)');
  if (op === 'Einsum') fail(n, 'this op is not supported on its own: only inside a MultiHeadAttention as Keras 3 writes it (projections, scores scaled by 1/sqrt(key_dim), a softmax, the output projection, and nothing else reading its steps)');
  if (op === '_Gelu') {
    // Found among primitive ops (graph_model_gelu.ts): the exact form, or the tanh approximation.
    needArgs(n, args, 1);
    const x = layerArg(n, args[0], 'its input', true);
    return [mergedAs(x, addLayer(out, n, 'Activation', { activation: n.attr.approximate?.b ? 'gelu_new' : 'gelu' }, [x], x.shape))];
  }
  if (op === 'ResizeBilinear' || op === 'ResizeNearestNeighbor') return [resize(n, args, out)];
  if (op === 'Pad') return [pad(n, args, out)];
  if (op === 'ReverseV2') return [reversed(n, args, out)];
  if (LOOP_OPS.has(op)) fail(n, "this op is part of a while loop (a recurrent layer's), and only Keras's LSTM, GRU (reset_after) and SimpleRNN loops translate, as Keras 3 writes them (graph_model_loops.ts: zeros or states computed before it as the first, sigmoid gates and tanh or relu, every step or the last one read, their final states too, Keras's padding or Masking mask); this one differs");
  return fail(n, `this op is not supported (supported: ${SUPPORTED})`);
}

/** An input's sizes (a Placeholder's), the batch's first; refused unless every other one is known. */
export function inputDims(n: GraphNode): number[] {
  const dims = (n.attr.shape?.shape?.dim ?? []).map((d) => Number(d.size));
  if (n.attr.shape?.shape?.unknownRank || dims.length < 2) fail(n, 'the input needs a known rank, batch axis first');
  if (dims.slice(1).some((d) => !(d > 0))) fail(n, `the input's shape [${dims}] has an unknown size beyond the batch axis: fix it where the model is read, inputShapes (loadLayersModel, loadPlainModel, deploy) or --input-shape (tfe deploy, verify, calibrate), or give the model a fixed input shape`);
  return dims;
}

function input(n: GraphNode, out: Translated): Val {
  const dims = inputDims(n);
  const dtype = n.attr.dtype?.type;
  // An int input holds token ids for an embedding lookup (graph_model_ids.ts).
  const ids = dtype === 'DT_INT32' || dtype === 'DT_INT64';
  if (dtype !== undefined && dtype !== 'DT_FLOAT' && !ids) fail(n, `an input of ${dtype} is not supported: float32, or int32 and int64 token ids read by an embedding lookup`);
  const x = addLayer(out, n, 'InputLayer', { batch_input_shape: [null, ...dims.slice(1)], dtype: ids ? 'int32' : 'float32' }, [], [-1, ...dims.slice(1)]);
  out.inputs.push({ node: n.name, layer: x.id });
  return ids ? { ...x, ids: true } : x;
}

function pool(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 1);
  channelsLast(n);
  const x = layerArg(n, args[0]);
  const k = spatial(n, 'ksize'), strides = spatial(n, 'strides'), padding = paddingOf(n);
  const shape = imageOut(n, x, k, strides, [1, 1], padding, x.shape[3]);
  return addLayer(out, n, n.op === 'MaxPool' ? 'MaxPooling2D' : 'AveragePooling2D', { pool_size: k, strides, padding, data_format: 'channels_last' }, [x], shape);
}

/** A mean or max over an image's two spatial axes or a sequence's steps: global average or max pooling. */
function globalPool(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 2);
  const x = layerArg(n, args[0]), r = x.shape.length;
  const axes = [...constArg(n, args[1], 'its axes').data].map((a) => (a < 0 ? a + r : a)).sort((p, q) => p - q);
  const what = n.op === 'Mean' ? 'a mean' : 'a max';
  // Over a sequence's features (GlobalAveragePooling1D and GlobalMaxPooling1D with channels_first:
  // [batch, steps] out). Kept dims are a normalisation's mean, which a matcher takes whole: a
  // lone one is refused below, pointing there.
  if (r === 3 && axes.join() === '2' && n.attr.keep_dims?.b !== true) return addLayer(out, n, `Global${n.op === 'Mean' ? 'Average' : 'Max'}Pooling1D`, { data_format: 'channels_first' }, [x], [-1, x.shape[1]]);
  if (!((r === 5 && axes.join() === '1,2,3') || (r === 4 && axes.join() === '1,2') || (r === 3 && axes.join() === '1'))) {
    const norm = n.op === 'Mean' && axes.join() === String(r - 1) ? ', or over the last axis inside a layer or RMS normalisation whose steps (mean, variance, Rsqrt, scale and shift) nothing else reads' : '';
    fail(n, `${what} over axes [${axes}] of a rank-${r} value is not supported: over the spatial axes of a volume or an image, or the steps of a sequence only (global ${n.op === 'Mean' ? 'average' : 'max'} pooling)${norm}`);
  }
  const keepdims = n.attr.keep_dims?.b === true, c = x.shape[r - 1];
  const cls = `Global${n.op === 'Mean' ? 'Average' : 'Max'}Pooling${r - 2}D`;
  return addLayer(out, n, cls, { data_format: 'channels_last', keepdims }, [x], keepdims ? [-1, ...Array(r - 2).fill(1), c] : [-1, c]);
}

function batchNorm(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 5);
  channelsLast(n);
  if (n.attr.is_training?.b) fail(n, 'is_training is set: batch statistics are not supported, only the moving mean and variance');
  const x = layerArg(n, args[0]);
  const [gamma, beta, m, v] = [1, 2, 3, 4].map((i) => constArg(n, args[i], 'its scale, offset, mean and variance'));
  const c = x.shape[x.shape.length - 1];
  if ([gamma, beta, m, v].some((p) => p.data.length !== c)) fail(n, `its scale, offset, mean and variance must hold ${c} values each (its input's channels)`);
  return addLayer(out, n, 'BatchNormalization', { axis: -1, epsilon: n.attr.epsilon?.f ?? 1e-3, center: true, scale: true }, [x], x.shape, [['gamma', gamma.data, [c]], ['beta', beta.data, [c]], ['moving_mean', m.data, [c]], ['moving_variance', v.data, [c]]]);
}

/**
 * A layer or RMS normalisation over the last axis, found among primitive ops (graph_model_norms.ts):
 * Keras's LayerNormalization, or RMSNormalization and a shift where the graph adds one.
 */
function normalization(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 3);
  const x = layerArg(n, args[0], 'its input', true), r = x.shape.length, c = x.shape[r - 1];
  const axes = ints(n, 'axes').map((a) => (a < 0 ? a + r : a));
  const what = n.op === '_LayerNorm' ? 'a layer normalisation' : 'an RMS normalisation';
  if (axes.length !== 1 || axes[0] !== r - 1) fail(n, `${what} (found among primitive ops) over axes [${ints(n, 'axes')}] of a rank-${r} value: only over the last axis`);
  const [gamma, beta] = [1, 2].map((i) => {
    const v = constArg(n, args[i], 'its scale and shift').data;
    if (v.length !== 1 && v.length !== c) fail(n, `${what} (found among primitive ops) with ${v.length} scale or shift values for ${c} channels`);
    return v.length === c ? v : new Float32Array(c).fill(v[0]);
  });
  const epsilon = n.attr.epsilon?.f ?? 0;
  if (n.op === '_LayerNorm') return mergedAs(x, addLayer(out, n, 'LayerNormalization', { axis: -1, epsilon, center: true, scale: true }, [x], x.shape, [['gamma', gamma, [c]], ['beta', beta, [c]]]));
  const rms = mergedAs(x, addLayer(out, n, 'RMSNormalization', { axis: -1, epsilon }, [x], x.shape, [['scale', gamma, [c]]]));
  return beta.some((v) => v !== 0) ? withConstant({ ...n, op: 'AddV2' }, rms, { kind: 'const', shape: [c], data: beta }, false, out) : rms;
}

/**
 * max(x, c) = relu(x - c) + c and min(x, c) = x - relu(x - c), c a constant per channel or for all
 * (keras.ops.clip, tf.maximum(x, 0)): a private shift, an exact relu, and a private shift or a
 * difference; max(x, 0) is the relu alone.
 */
function clipped(n: GraphNode, args: Val[], out: Translated): Val {
  const [a, b] = args;
  const x = layerArg(n, a.kind === 'layer' ? a : b), c = constArg(n, a.kind === 'layer' ? b : a, 'its bound');
  const zero = c.data.every((v) => v === 0);
  const shifted = zero ? x : (withConstant({ ...n, op: 'Sub' }, x, c, false, out) as Layer);
  const r = activation(out, n, 'Relu', shifted) as Layer;
  if (n.op === 'Maximum') return zero ? r : withConstant({ ...n, op: 'AddV2' }, r, c, false, out);
  return addLayer(out, n, 'Subtract', {}, [x, r], x.shape);
}

/** Two computed values of one shape (Add, Sub, Mul), or one and a constant (graph_model_consts.ts). */
function elementwise(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 2);
  if (n.op === 'BiasAdd') channelsLast(n);
  const [a, b] = args;
  if (a.kind === 'layer' && b.kind === 'layer') {
    for (const v of [a, b]) layerArg(n, v);
    const cls = { Sub: 'Subtract', Mul: 'Multiply', RealDiv: undefined }[n.op as 'Sub'] ?? (n.op === 'RealDiv' ? undefined : 'Add');
    if (!cls) fail(n, 'divides by a computed value: not supported (no private division)');
    return addLayer(out, n, cls, {}, [a, b], broadcast(n, [a, b]));
  }
  if (a.kind === 'const' && b.kind === 'const') return sizes(n, a, b);
  const [x, c] = a.kind === 'layer' ? [a, b] : [b, a];
  return withConstant(n, layerArg(n, x, 'its input', true), constArg(n, c, 'its constant'), a.kind !== 'layer', out);
}

/** Shape arithmetic on two constants (a resize's size, its input's times the factors): known sizes, element by element. */
function sizes(n: GraphNode, a: Extract<Val, { kind: 'const' }>, b: Extract<Val, { kind: 'const' }>): Val {
  const [x, y] = [dimsOf(a), dimsOf(b)];
  const f = { Mul: (p: number, q: number) => p * q, Add: (p: number, q: number) => p + q, AddV2: (p: number, q: number) => p + q, Sub: (p: number, q: number) => p - q }[n.op as 'Mul'];
  if (!f || a.shape.length > 1 || b.shape.length > 1 || (x.length !== y.length && x.length !== 1 && y.length !== 1) || [...x, ...y].some((d) => typeof d !== 'number'))
    fail(n, 'computes with two constants: only known sizes, multiplied, added or subtracted element by element, fold here');
  const len = Math.max(x.length, y.length), at = (v: Dim[], k: number) => v[v.length === 1 ? 0 : k] as number;
  const dims = Array.from({ length: len }, (_, k) => f(at(x, k), at(y, k)));
  return { kind: 'const', shape: a.shape.length || b.shape.length ? [len] : [], data: Float32Array.from(dims), dims };
}

/**
 * A resize to a constant size: with half-pixel centers (tf.image.resize, Keras 2.x+), Keras's
 * Resizing; with align_corners or neither (TensorFlow 1's tf.compat.v1.image.resize_* ops, as
 * DeepLab-era models write them), the library's TfeResize naming its rule (image_resize.ts).
 */
function resize(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 2);
  const align = n.attr.align_corners?.b === true, half = n.attr.half_pixel_centers?.b === true;
  // (TensorFlow refuses both at once.)
  if (align && half) fail(n, 'has both align_corners and half_pixel_centers, which TensorFlow itself refuses');
  const x = layerArg(n, args[0]);
  const [h, w] = dimsOf(constArg(n, args[1], 'its size'));
  if (x.shape.length !== 4 || typeof h !== 'number' || typeof w !== 'number') fail(n, 'resizes to a size that is not known here, or a value that is not an image');
  const interpolation = n.op === 'ResizeBilinear' ? 'bilinear' : 'nearest', shape = [-1, h, w, x.shape[3]];
  if (half) return addLayer(out, n, 'Resizing', { height: h, width: w, interpolation, crop_to_aspect_ratio: false }, [x], shape);
  return addLayer(out, n, RESIZE_LAYER, { height: h, width: w, interpolation, rule: align ? 'align_corners' : 'asymmetric' }, [x], shape);
}

/** The shape of values combined element-wise: equal ranks, each size equal or 1 (a squeeze-and-excitation gate's [1, 1, C]). */
function broadcast(n: GraphNode, xs: Extract<Val, { kind: 'layer' }>[]): number[] {
  const r = xs[0].shape.length;
  if (xs.some((x) => x.shape.length !== r)) fail(n, `combines values of ranks ${xs.map((x) => x.shape.length).join(' and ')}: only equal ranks`);
  return xs[0].shape.map((_, k) => {
    const sizes = new Set(xs.map((x) => x.shape[k]).filter((d) => d !== 1));
    if (sizes.size > 1) fail(n, `combines values of shapes ${xs.map((x) => `[${x.shape.slice(1)}]`).join(' and ')} per example: sizes that do not broadcast`);
    return sizes.size === 0 ? 1 : [...sizes][0];
  });
}

function concat(n: GraphNode, args: Val[], out: Translated): Val {
  const axis = constArg(n, args[args.length - 1], 'its axis').data[0];
  const parts = args.slice(0, -1);
  if (parts.every((p) => p.kind === 'const')) return joined(n, parts);
  const xs = parts.map((p, i) => layerArg(n, p, `its input ${i}`));
  const r = xs[0].shape.length, at = axis < 0 ? axis + r : axis;
  if (at <= 0 || at >= r) fail(n, `concatenates on axis ${axis} of rank-${r} values: the batch axis, or none`);
  if (xs.some((x) => x.shape.length !== r || x.shape.some((d, k) => k !== at && d !== xs[0].shape[k]))) fail(n, 'concatenates values whose other sizes differ');
  const shape = [...xs[0].shape];
  shape[at] = xs.reduce((a, x) => a + x.shape[at], 0);
  return addLayer(out, n, 'Concatenate', { axis }, xs, shape);
}

/**
 * A StridedSlice of a computed value: an image's height and width at step 1 as Keras's Cropping2D;
 * any other (x[:, 0] for a sequence's first step, x[:, -1], x[..., :3] given per axis, steps too)
 * as the slice layer operations between layers become (layers_slice.ts), the batch axis whole.
 */
function slice(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 4);
  const x = layerArg(n, args[0]);
  const [b, e, st] = [1, 2, 3].map((k) => [...constArg(n, args[k], 'its begin, end and strides').data]);
  const masks = Object.fromEntries(['begin_mask', 'end_mask', 'shrink_axis_mask', 'ellipsis_mask', 'new_axis_mask'].map((m) => [m, intOf(n.attr[m]?.i)]));
  const bit = (m: string, a: number) => (masks[m] >> a) & 1;
  const whole = (a: number) => bit('begin_mask', a) && bit('end_mask', a);
  if (x.shape.length === 4 && b.length === 4 && !masks.shrink_axis_mask && !masks.ellipsis_mask && !masks.new_axis_mask && st.every((v) => v === 1) && whole(0) && whole(3)) {
    const cropping = [1, 2].map((a) => {
      const len = x.shape[a], at = (v: number) => (v < 0 ? v + len : Math.min(v, len));
      const lo = bit('begin_mask', a) ? 0 : at(b[a]), hi = bit('end_mask', a) ? len : at(e[a]);
      if (hi <= lo) fail(n, `slices axis ${a} to nothing`);
      return [lo, len - hi];
    });
    return addLayer(out, n, 'Cropping2D', { cropping, data_format: 'channels_last' }, [x], [-1, x.shape[1] - cropping[0][0] - cropping[0][1], x.shape[2] - cropping[1][0] - cropping[1][1], x.shape[3]]);
  }
  if (masks.new_axis_mask) fail(n, 'adds an axis (new_axis_mask): not supported');
  if (b.length > x.shape.length + 1 || e.length !== b.length || st.length !== b.length) fail(n, `slices ${b.length} axes of a rank-${x.shape.length} value`);
  // One entry per axis given (an ellipsis standing for the axes not given), as Python's key.
  const key: KeyEntry[] = b.map((_, a) =>
    bit('ellipsis_mask', a) ? 'ellipsis' : bit('shrink_axis_mask', a) ? b[a] : { start: bit('begin_mask', a) ? null : b[a], stop: bit('end_mask', a) ? null : e[a], ...(st[a] !== 1 ? { step: st[a] } : {}) });
  if (key[0] !== 'ellipsis' && (!whole(0) || bit('shrink_axis_mask', 0) || st[0] !== 1)) fail(n, 'slices the batch axis: keep it whole');
  const { out: shape } = sliceBounds(key, [1, ...x.shape.slice(1)], (msg) => fail(n, msg));
  if (shape.length < 2) fail(n, 'slices every axis but the batch to single elements: keep a last axis');
  return addLayer(out, n, SLICE_LAYER, { key: key.map((k) => (k === 'ellipsis' ? { class_name: '__ellipsis__' } : k)) }, [x], [-1, ...shape.slice(1)]);
}

/** Pack of computed values of one shape on an axis after the batch's (TimeDistributed's steps: graph_model_steps.ts): each reshaped to one there, concatenated. */
function stacked(n: GraphNode, args: Val[], out: Translated): Val {
  const xs = args.map((a, i) => layerArg(n, a, `its input ${i}`));
  const shape = xs[0].shape, axis = intOf(n.attr.axis?.i);
  const at = axis < 0 ? axis + shape.length + 1 : axis;
  if (xs.some((x) => x.shape.join() !== shape.join())) fail(n, `packs values of different shapes (${xs.map((x) => `[${x.shape.slice(1)}]`).join(', ')})`);
  if (!(at >= 1 && at <= shape.length)) fail(n, `packs on axis ${axis}: only on an axis after the batch's`);
  const one = [...shape.slice(0, at), 1, ...shape.slice(at)];
  const parts = xs.map((x) => addLayer(out, n, 'Reshape', { target_shape: one.slice(1) }, [x], one));
  if (parts.length === 1) return parts[0];
  return addLayer(out, n, 'Concatenate', { axis: at }, parts, [...shape.slice(0, at), parts.length, ...shape.slice(at)]);
}

/** ReverseV2 of a computed value over axes other than the batch's (Bidirectional's backward steps put back in order): x[:, ::-1], a local reordering. */
function reversed(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 2);
  const x = layerArg(n, args[0]);
  const r = x.shape.length;
  const axes = [...constArg(n, args[1], 'its axes').data].map((a) => (a < 0 ? a + r : a));
  if (axes.some((a) => !Number.isInteger(a) || a < 0 || a >= r)) fail(n, `reverses axes [${axes}] of a rank-${r} value`);
  if (axes.includes(0)) fail(n, 'reverses the batch axis: not supported (keep it whole)');
  const key = x.shape.map((_, a) => ({ start: null, stop: null, ...(axes.includes(a) ? { step: -1 } : {}) }));
  return addLayer(out, n, SLICE_LAYER, { key }, [x], x.shape);
}

function pad(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 2);
  const x = layerArg(n, args[0]);
  const p = constArg(n, args[1], 'its paddings').data;
  // A sequence's steps (Conv1D's causal padding: ZeroPadding1D before it).
  if (x.shape.length === 3 && p.length === 6 && !p[0] && !p[1] && !p[4] && !p[5] && p[2] >= 0 && p[3] >= 0) return addLayer(out, n, 'ZeroPadding1D', { padding: [p[2], p[3]] }, [x], [-1, x.shape[1] + p[2] + p[3], x.shape[2]]);
  if (x.shape.length !== 4 || p.length !== 8 || p[0] || p[1] || p[6] || p[7]) fail(n, `pads [${[...p]}]: only the steps of a sequence or the two spatial axes of an image, with zeros`);
  return addLayer(out, n, 'ZeroPadding2D', { padding: [[p[2], p[3]], [p[4], p[5]]], data_format: 'channels_last' }, [x], [-1, x.shape[1] + p[2] + p[3], x.shape[2] + p[4] + p[5], x.shape[3]]);
}
