// A faster transposed BatchMatMul for TensorFlow.js's WASM backend. Backpropagation through a Dense
// layer multiplies by transposed operands (dx = dy . W^T, dW = x^T . dy), and the backend runs
// those about 10x slower than a plain product of the same size. Transposing the operand with a JS
// copy (cheap next to the product) and running the plain kernel gives the same numbers faster.
import type { KernelBackend, KernelFunc, TensorInfo } from './tf';
import { tf } from './tf';

type WasmBackend = KernelBackend & {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
};

/** The last two axes of a float32 tensor swapped, in a new backend buffer. */
function transposeLast2(backend: WasmBackend, t: TensorInfo): TensorInfo {
  const r = t.shape.length;
  const [rows, cols] = [t.shape[r - 2], t.shape[r - 1]];
  const batch = t.shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([...t.shape.slice(0, -2), cols, rows], 'float32');
  const src = backend.typedArrayFromHeap(t); // views taken after the allocation, which may move the heap
  const dst = backend.typedArrayFromHeap(out);
  for (let b = 0; b < batch; b++) {
    const o = b * rows * cols;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) dst[o + j * rows + i] = src[o + i * cols + j];
  }
  return out;
}

function fastTransposed(original: KernelFunc): KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const backend = args.backend as WasmBackend;
    const at = transposeA ? transposeLast2(backend, a) : a;
    const bt = transposeB ? transposeLast2(backend, b) : b;
    const out = original({ ...args, inputs: { a: at, b: bt }, attrs: { ...args.attrs, transposeA: false, transposeB: false } });
    if (at !== a) backend.disposeData(at.dataId);
    if (bt !== b) backend.disposeData(bt.dataId);
    return out;
  };
}

const patched = new WeakSet<KernelFunc>();

/** Replaces the wasm BatchMatMul kernel by one that transposes operands first (idempotent). */
export function registerWasmMatMul(): void {
  const original = tf.getKernel('BatchMatMul', 'wasm');
  if (!original) throw new Error('wasm backend not loaded: import @tensorflow/tfjs-backend-wasm first');
  if (patched.has(original.kernelFunc)) return;
  const kernelFunc = fastTransposed(original.kernelFunc);
  patched.add(kernelFunc);
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({ ...original, kernelFunc });
}
