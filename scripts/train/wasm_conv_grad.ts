// Conv2D gradients for TensorFlow.js's WASM backend, so conv nets train there without tfjs-node.
// The backend has no Conv2DBackpropFilter kernel at all, and its Conv2DBackpropInput is a plain
// loop about 10x slower than its (XNNPACK) forward conv. Both are rebuilt here from the backend's
// own fast kernels, called directly at the kernel level (not through tf ops, which would allocate
// tensors the engine tracks while a kernel runs):
//   dW = im2col(x)^T . dy                    (im2col copied in JS, then BatchMatMul)
//   dx = conv2d(pad(dy), flip(W)^T)          (Reverse + Transpose + Conv2D; stride 1)
//   dx = col2im(dy . W^T)                    (BatchMatMul, then a JS scatter-add; strides, or
//                                             few input channels, where XNNPACK's conv is slow)
// Only channels-last data and dilation 1 (tfjs's conv2d gradient allows no other) are handled.
import { type ConvInfo, type KernelBackend as Backend, type KernelFunc, type TensorInfo as Info, tf } from './tf';

type Attrs = Record<string, unknown>;
/** Below this many input channels dx is computed by col2im rather than by a conv. */
const COL2IM_BELOW_CHANNELS = 8;
type KernelArgs = Parameters<KernelFunc>[0];
/** The wasm backend's own methods for output allocation and access to its heap. */
type WasmBackend = Backend & { makeOutput(shape: number[], dtype: string): Info; typedArrayFromHeap(t: Info): Float32Array | Int32Array | Uint8Array };

/** Runs a registered wasm kernel directly. */
function run(name: string, backend: Backend, inputs: Record<string, Info> | Info[], attrs: Attrs = {}): Info {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm backend has no ${name} kernel`);
  // Concat takes its inputs as an array; every other kernel here as a name -> tensor map.
  return k.kernelFunc({ inputs, backend, attrs }) as Info;
}

const free = (backend: Backend, ...infos: Info[]) => infos.forEach((t) => backend.disposeData(t.dataId));

interface ConvAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function convInfo(xShape: number[], filterShape: number[], a: ConvAttrs) {
  if (a.dataFormat === 'NCHW') throw new Error('wasm conv2d gradients: only channels-last (NHWC) data is supported');
  return tf.backend_util.computeConv2DInfo(xShape, filterShape, a.strides, 1, a.pad, a.dimRoundingMode, false, 'channelsLast');
}

/** dW[kh,kw,ci,co] = sum over b,i,j of xpad[b, i*sh+kh, j*sw+kw, ci] * dy[b,i,j,co]. */
function conv2dBackpropFilter({ inputs, backend, attrs }: KernelArgs): Info {
  const { x, dy } = inputs as { x: Info; dy: Info };
  const a = attrs as unknown as ConvAttrs & { filterShape: [number, number, number, number] };
  const c = convInfo(x.shape, a.filterShape, a);
  const { batchSize: B, inHeight: H, inWidth: W, filterHeight: KH, filterWidth: KW, inChannels: CI, outChannels: CO, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = c;
  const { top, left } = c.padInfo;
  const wasm = backend as WasmBackend;
  // The transposed im2col matrix [KH*KW*CI, B*OH*OW], rows in the filter's own (kh, kw, ci)
  // order, built in JS: the backend's StridedSlice, Concat and Transpose are far slower than a
  // plain copy, and building it transposed lets the matmul run without transposeA (also slow).
  const m = B * OH * OW;
  const colsT = wasm.makeOutput([KH * KW * CI, m], 'float32');
  const xs = wasm.typedArrayFromHeap(x) as Float32Array; // views taken after the allocation
  const cs = wasm.typedArrayFromHeap(colsT) as Float32Array;
  for (let kh = 0, row = 0; kh < KH; kh++)
    for (let kw = 0; kw < KW; kw++)
      for (let ci = 0; ci < CI; ci++, row++) {
        let o = row * m;
        for (let b = 0; b < B; b++)
          for (let i = 0; i < OH; i++) {
            const h = i * sh + kh - top;
            if (h < 0 || h >= H) {
              cs.fill(0, o, o + OW);
              o += OW;
              continue;
            }
            const base = (b * H + h) * W;
            for (let j = 0; j < OW; j++, o++) {
              const w = j * sw + kw - left;
              cs[o] = w < 0 || w >= W ? 0 : xs[(base + w) * CI + ci];
            }
          }
      }
  const dy2 = run('Reshape', backend, { x: dy }, { shape: [m, CO] });
  const dw = run('BatchMatMul', backend, { a: colsT, b: dy2 }, { transposeA: false, transposeB: false });
  const out = run('Reshape', backend, { x: dw }, { shape: [KH, KW, CI, CO] });
  free(backend, colsT, dy2, dw);
  return out;
}

/**
 * dx by col2im: dcols = dy . W^T (one row per output pixel, one column per filter tap), each
 * entry added back to the input pixel it came from. Any stride or padding; used where XNNPACK's
 * conv is slow, i.e. few input channels (the first layer, whose dx tfjs computes though unused).
 */
function backpropInputCol2im(backend: WasmBackend, dy: Info, filter: Info, c: ConvInfo): Info {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW, outChannels: CO, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw } = c;
  const { top, left } = c.padInfo;
  const K = KH * KW * CI;
  const wt = backend.makeOutput([CO, K], 'float32');
  const f = backend.typedArrayFromHeap(filter), w2 = backend.typedArrayFromHeap(wt);
  for (let k = 0; k < K; k++) for (let co = 0; co < CO; co++) w2[co * K + k] = f[k * CO + co];
  const dy2 = run('Reshape', backend, { x: dy }, { shape: [B * OH * OW, CO] });
  const cols = run('BatchMatMul', backend, { a: dy2, b: wt }, { transposeA: false, transposeB: false });
  const dx = backend.makeOutput([B, H, W, CI], 'float32');
  const cs = backend.typedArrayFromHeap(cols), out = backend.typedArrayFromHeap(dx); // after the allocations
  out.fill(0);
  for (let b = 0, row = 0; b < B; b++)
    for (let i = 0; i < OH; i++)
      for (let j = 0; j < OW; j++, row += K)
        for (let kh = 0; kh < KH; kh++) {
          const h = i * sh + kh - top;
          if (h < 0 || h >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const x = j * sw + kw - left;
            if (x < 0 || x >= W) continue;
            const o = ((b * H + h) * W + x) * CI, s = row + (kh * KW + kw) * CI;
            for (let ci = 0; ci < CI; ci++) out[o + ci] += cs[s + ci];
          }
        }
  free(backend, wt, dy2, cols);
  return dx;
}

/** dx = full correlation of dy with the filter flipped in space and with in/out channels swapped. */
function conv2dBackpropInput(args: KernelArgs): Info {
  const backend = args.backend as WasmBackend;
  const { dy, filter } = args.inputs as { dy: Info; filter: Info };
  const a = args.attrs as unknown as ConvAttrs & { inputShape: [number, number, number, number] };
  const c = convInfo(a.inputShape, filter.shape, a);
  const { filterHeight: KH, filterWidth: KW, inHeight: H, inWidth: W, outHeight: OH, outWidth: OW } = c;
  // Padding dy by K-1-pad on the top/left makes a valid conv produce exactly dx's rows; the
  // bottom/right pads follow from the sizes. Strides would need zeros between dy's pixels.
  const pt = KH - 1 - c.padInfo.top, pl = KW - 1 - c.padInfo.left;
  const pb = H + KH - 1 - OH - pt, pr = W + KW - 1 - OW - pl;
  if (c.inChannels < COL2IM_BELOW_CHANNELS || c.strideHeight !== 1 || c.strideWidth !== 1 || Math.min(pt, pl, pb, pr) < 0) return backpropInputCol2im(backend, dy, filter, c);
  const flipped = run('Reverse', backend, { x: filter }, { dims: [0, 1] });
  const w = run('Transpose', backend, { x: flipped }, { perm: [0, 1, 3, 2] });
  const dx = run('Conv2D', backend, { x: dy, filter: w }, { strides: [1, 1], dilations: [1, 1], pad: [[0, 0], [pt, pb], [pl, pr], [0, 0]], dataFormat: 'NHWC', dimRoundingMode: undefined });
  free(backend, flipped, w);
  return dx;
}

/**
 * Registers the two kernels for the 'wasm' backend (idempotent). Call it before training; the
 * backend itself may be initialised before or after.
 */
export function registerWasmConvGrad(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc === conv2dBackpropFilter) return;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2dBackpropFilter });
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (!original) throw new Error('wasm backend not loaded: import @tensorflow/tfjs-backend-wasm first');
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel({ ...original, kernelFunc: conv2dBackpropInput });
}
