// A GraphModel's ops on volumes [batch, depth, height, width, channels] (NDHWC), as Keras's 3-D
// layers write them (layers_3d.ts runs those): Conv3D (its BiasAdd merged as for Conv2D:
// graph_model_consts.ts), Conv3DBackpropInputV2 (Conv3DTranspose), MaxPool3D and AvgPool3D; a Mean
// or Max over the three spatial axes is global pooling (graph_model_nodes.ts globalPool).
import { addLayer, constArg, dimsOf, fail, type GraphNode, ints, type Layer, layerArg, needArgs, paddingOf, str, type Translated, type Val } from './graph_model_ops';

type Triple = [number, number, number];

/** NDHWC only. */
function channelsLast3d(n: GraphNode): void {
  const f = str(n, 'data_format');
  if (f !== undefined && f !== 'NDHWC') fail(n, `data_format ${f} is not supported: only NDHWC (channels last)`);
}

/** [1, d, h, w, 1] -> [d, h, w], refusing a stride or window over the batch or channels. */
function spatial3d(n: GraphNode, k: string): Triple {
  const v = ints(n, k);
  if (v.length === 0) return [1, 1, 1];
  if (v.length !== 5 || v[0] !== 1 || v[4] !== 1) fail(n, `${k} [${v}] is not supported: [1, d, h, w, 1] only`);
  return [v[1], v[2], v[3]];
}

function volumeArg(n: GraphNode, v: Val): Layer {
  const x = layerArg(n, v);
  if (x.shape.length !== 5) fail(n, `its input has rank ${x.shape.length}, not a volume's 5 ([batch, depth, height, width, channels])`);
  return x;
}

/** A window's outputs per axis, as TensorFlow pads. */
const windowOut = (size: number, k: number, s: number, d: number, padding: 'same' | 'valid') => (padding === 'same' ? Math.ceil(size / s) : Math.floor((size - ((k - 1) * d + 1)) / s) + 1);

/** Conv3D: the filter a constant [kd, kh, kw, in, out]; Keras's Conv3D without its bias (a BiasAdd after merges in). */
export function volumeConv(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 2);
  channelsLast3d(n);
  const x = volumeArg(n, args[0]);
  const f = constArg(n, args[1], 'its filter');
  if (f.shape.length !== 5) fail(n, `its filter has shape [${f.shape}], not [kd, kh, kw, in, out]`);
  if (x.shape[4] !== f.shape[3]) fail(n, `its filter takes ${f.shape[3]} input channels, its input has ${x.shape[4]}`);
  const k = f.shape.slice(0, 3) as Triple, strides = spatial3d(n, 'strides'), dil = spatial3d(n, 'dilations'), padding = paddingOf(n), o = f.shape[4];
  const shape = [-1, ...k.map((e, a) => windowOut(x.shape[a + 1], e, strides[a], dil[a], padding)), o];
  return addLayer(out, n, 'Conv3D', { filters: o, kernel_size: k, strides, padding, data_format: 'channels_last', dilation_rate: dil, activation: 'linear', use_bias: false }, [x], shape, [['kernel', f.data, f.shape]]);
}

/** Conv3DBackpropInputV2: Keras's Conv3DTranspose (filter [kd, kh, kw, out, in]) at Keras's own output size only. */
export function volumeTransposedConv(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 3);
  channelsLast3d(n);
  const size = dimsOf(constArg(n, args[0], 'its output size'));
  const f = constArg(n, args[1], 'its filter');
  const x = volumeArg(n, args[2]);
  if (f.shape.length !== 5 || x.shape[4] !== f.shape[4]) fail(n, `its filter [${f.shape}] does not take its input [${x.shape.slice(1)}]`);
  if (spatial3d(n, 'dilations').some((d) => d !== 1)) fail(n, 'dilations are not supported in a transposed convolution');
  const k = f.shape.slice(0, 3) as Triple, strides = spatial3d(n, 'strides'), padding = paddingOf(n), o = f.shape[3];
  const keras = k.map((e, a) => x.shape[a + 1] * strides[a] + (padding === 'same' ? 0 : Math.max(e - strides[a], 0)));
  if (size.length !== 5 || size[4] !== o || keras.some((e, a) => size[a + 1] !== e))
    fail(n, `its output size [${size.slice(1)}] is not the one Keras's Conv3DTranspose makes from [${x.shape.slice(1, 4)}] ([${keras}, ${o}]): an output_padding is not supported`);
  return addLayer(out, n, 'Conv3DTranspose', { filters: o, kernel_size: k, strides, padding, output_padding: null, data_format: 'channels_last', dilation_rate: [1, 1, 1], activation: 'linear', use_bias: false }, [x], [-1, ...keras, o], [['kernel', f.data, f.shape]]);
}

/** MaxPool3D, AvgPool3D. */
export function volumePool(n: GraphNode, args: Val[], out: Translated): Val {
  needArgs(n, args, 1);
  channelsLast3d(n);
  const x = volumeArg(n, args[0]);
  const k = spatial3d(n, 'ksize'), strides = spatial3d(n, 'strides'), padding = paddingOf(n);
  const shape = [-1, ...k.map((e, a) => windowOut(x.shape[a + 1], e, strides[a], 1, padding)), x.shape[4]];
  return addLayer(out, n, n.op === 'MaxPool3D' ? 'MaxPooling3D' : 'AveragePooling3D', { pool_size: k, strides, padding, data_format: 'channels_last' }, [x], shape);
}
