import { type Backend, getBackend } from '../backend/backends';
import type { NativeHandle, NativeTensorInfo } from '../backend/native_binding';
import { assertDType, bytesPerElement, type DType } from './dtype';
import { assertShape, type Shape, shapeString, sizeOf } from './shape';

export const DEFAULT_FRAC_BITS = 16;

// Backstop for tensors that are never disposed: release native memory when the wrapper is
// collected. Explicit dispose() remains the way to bound memory.
const finalizer = new FinalizationRegistry<{ backend: Backend; handle: NativeHandle }>(({ backend, handle }) => {
  backend.native.release(handle);
  liveTensors--;
});
let liveTensors = 0;

/** Number of RingTensors created and neither disposed nor collected. */
export function liveTensorCount(): number {
  return liveTensors;
}

/**
 * A tensor of ring (Z_2^64), bit or small-prime field elements in native memory.
 * Immutable: every op returns a new tensor. Release with dispose().
 */
export class RingTensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly backend: Backend;
  #handle: NativeHandle | undefined;

  /** Wraps a native result; not for direct use. */
  constructor(info: NativeTensorInfo, backend: Backend) {
    this.shape = Object.freeze([...info.shape]);
    this.dtype = assertDType(info.dtype);
    this.backend = backend;
    this.#handle = info.handle;
    liveTensors++;
    finalizer.register(this, { backend, handle: info.handle }, this);
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.#handle === undefined;
  }

  /** The native handle; throws if the tensor was disposed. */
  get handle(): NativeHandle {
    if (this.#handle === undefined)
      throw new Error(`RingTensor ${this.dtype} ${shapeString(this.shape)} was used after dispose()`);
    return this.#handle;
  }

  dispose(): void {
    if (this.#handle === undefined) return;
    finalizer.unregister(this);
    this.backend.native.release(this.#handle);
    this.#handle = undefined;
    liveTensors--;
  }

  /**
   * A new handle on this tensor's memory, with no copy. Tensors are immutable, so it is as good as
   * a copy; each handle is disposed on its own, and the memory is freed with the last.
   */
  alias(): RingTensor {
    const [out] = this.backend.native.runSync('Reshape', [this.handle], { shape: [...this.shape] });
    return new RingTensor(out, this.backend);
  }

  // ---- construction ----

  static fromBigUint64Array(data: BigUint64Array, shape?: Shape, backend?: Backend): RingTensor {
    return RingTensor.#fromView(data, shape ?? [data.length], 'ring64', backend);
  }

  static fromBigInt64Array(data: BigInt64Array, shape?: Shape, backend?: Backend): RingTensor {
    return RingTensor.#fromView(data, shape ?? [data.length], 'ring64', backend);
  }

  /** From bigints; each is reduced mod 2^64, so negative values are two's complement. */
  static fromBigInts(values: readonly bigint[], shape?: Shape, backend?: Backend): RingTensor {
    const a = new BigUint64Array(values.length);
    for (let i = 0; i < values.length; i++) a[i] = BigInt.asUintN(64, values[i]);
    return RingTensor.fromBigUint64Array(a, shape, backend);
  }

  /** From raw little-endian element bytes (8 per ring64 element, 1 otherwise), e.g. off the wire. */
  static fromBytes(data: Uint8Array, shape: Shape, dtype: DType, backend?: Backend): RingTensor {
    return RingTensor.#fromView(data, shape, dtype, backend);
  }

  /** Bit or z<p> tensors from one byte per element; values must be below the modulus. */
  static fromUint8Array(data: Uint8Array, shape: Shape, dtype: DType, backend?: Backend): RingTensor {
    if (dtype === 'ring64') throw new TypeError('fromUint8Array: dtype ring64 needs a BigUint64Array');
    return RingTensor.#fromView(data, shape, dtype, backend);
  }

  /**
   * Fixed-point encoding: round(x * 2^fracBits) as a two's-complement ring element.
   * NaN, ±Infinity and values outside [-2^(63-f), 2^(63-f)) are errors naming the index.
   */
  static fromFloat64Array(
    data: Float64Array | readonly number[],
    shape?: Shape,
    opts: { fracBits?: number; backend?: Backend } = {},
  ): RingTensor {
    const f64 = data instanceof Float64Array ? data : Float64Array.from(data);
    const backend = opts.backend ?? getBackend();
    const s = assertShape(shape ?? [f64.length]);
    checkLength(f64.length, s);
    const staged = backend.native.fromBytes(f64, s, 'f64');
    try {
      const [out] = backend.native.runSync('EncodeFixedPoint', [staged], { fracBits: opts.fracBits ?? DEFAULT_FRAC_BITS });
      return new RingTensor(out, backend);
    } finally {
      backend.native.release(staged);
    }
  }

  static #fromView(data: ArrayBufferView, shape: Shape, dtype: DType, backend?: Backend): RingTensor {
    assertDType(dtype);
    const b = backend ?? getBackend();
    const s = assertShape(shape);
    const perElem = bytesPerElement(dtype);
    checkLength(data.byteLength / perElem, s);
    return new RingTensor({ handle: b.native.fromBytes(data, s, dtype), shape: s, dtype }, b);
  }

  // ---- export ----

  toBigUint64Array(): BigUint64Array {
    this.#requireDType('ring64', 'toBigUint64Array');
    return new BigUint64Array(this.backend.native.toBytes(this.handle));
  }

  toBigInt64Array(): BigInt64Array {
    this.#requireDType('ring64', 'toBigInt64Array');
    return new BigInt64Array(this.backend.native.toBytes(this.handle));
  }

  /** The raw element bytes (a copy), as sent on the wire. */
  toBytes(): Uint8Array {
    return new Uint8Array(this.backend.native.toBytes(this.handle));
  }

  /**
   * The raw element bytes without a copy: a read-only view of the tensor's native memory, which
   * it keeps alive (after dispose() too) until the view is collected or its buffer detached.
   * Undefined on a device. For the send path of a transport that frees what it wrote
   * (Transport.freesSent); anything else should copy (toBytes).
   */
  bytesView(): Uint8Array | undefined {
    const b = this.backend.native.bytesView(this.handle);
    return b && new Uint8Array(b);
  }

  /**
   * toBytes for the send path. On a device the copy overlaps with everything else: the wait for
   * the value happens off the JS thread, so the other parties keep issuing work meanwhile. On the
   * CPU the bytes are already in memory and a synchronous copy is cheaper than a thread hop.
   */
  async toBytesAsync(): Promise<Uint8Array> {
    if (!this.backend.streams) return this.toBytes();
    return new Uint8Array(await this.backend.native.toBytesAsync(this.handle));
  }

  /** Elements of a bit or z<p> tensor. */
  toUint8Array(): Uint8Array {
    if (this.dtype === 'ring64') throw new TypeError('toUint8Array: tensor has dtype ring64; use toBigUint64Array');
    return new Uint8Array(this.backend.native.toBytes(this.handle));
  }

  /** Fixed-point decoding: the signed ring element divided by 2^fracBits. */
  toFloat64Array(opts: { fracBits?: number } = {}): Float64Array {
    this.#requireDType('ring64', 'toFloat64Array');
    const [out] = this.backend.native.runSync('DecodeFixedPoint', [this.handle], {
      fracBits: opts.fracBits ?? DEFAULT_FRAC_BITS,
    });
    try {
      return new Float64Array(this.backend.native.toBytes(out.handle));
    } finally {
      this.backend.native.release(out.handle);
    }
  }

  /** Elements as bigints (unsigned, or signed two's complement when `signed`). */
  toBigInts(signed = false): bigint[] {
    if (this.dtype !== 'ring64') return [...this.toUint8Array()].map((v) => BigInt(v));
    return [...(signed ? this.toBigInt64Array() : this.toBigUint64Array())];
  }

  /** e.g. `RingTensor<ring64>[2,3] [[1, 2, 3], [4, 5, 6]]`, elided beyond 6 items per axis. */
  toString(opts: { signed?: boolean } = {}): string {
    const head = `RingTensor<${this.dtype}>${shapeString(this.shape)}`;
    if (this.isDisposed) return `${head} (disposed)`;
    const values = this.toBigInts(opts.signed ?? false);
    return `${head} ${formatNested(values, this.shape)}`;
  }

  #requireDType(d: DType, op: string): void {
    if (this.dtype !== d) throw new TypeError(`${op}: tensor has dtype ${this.dtype}, expected ${d}`);
  }
}

function checkLength(n: number, shape: readonly number[]): void {
  if (n !== sizeOf(shape))
    throw new RangeError(`data has ${n} elements but shape ${shapeString(shape)} needs ${sizeOf(shape)}`);
}

function formatNested(values: bigint[], shape: Shape, max = 6): string {
  if (shape.length === 0) return String(values[0]);
  const fmt = (offset: number, axis: number): string => {
    const n = shape[axis];
    const stride = sizeOf(shape.slice(axis + 1));
    const idx = n > max ? [0, 1, 2, -1, n - 3, n - 2, n - 1] : [...Array(n).keys()];
    const parts = idx.map((i) =>
      i < 0 ? '...' : axis === shape.length - 1 ? String(values[offset + i]) : fmt(offset + i * stride, axis + 1),
    );
    return `[${parts.join(', ')}]`;
  };
  return fmt(0, 0);
}

