// The shape of a native backend module (.node). The CPU addon and the CUDA addon implement the
// same surface, so everything above this file is backend-agnostic.

/** An opaque reference to native memory. */
export type NativeHandle = object & { readonly __nativeHandle: unique symbol };

export interface NativeTensorInfo {
  handle: NativeHandle;
  shape: number[];
  dtype: string;
}

export type AttrValue = number | bigint | boolean | string | number[] | Uint8Array | Int32Array;
export type Attrs = Record<string, AttrValue | undefined>;

export interface NativeInfo {
  backend: string;
  compiler?: string;
  buildSystem?: string;
  kernels: string[];
  // CPU module
  cpuFeatures?: string;
  matmulKernel?: string;
  /** What the 'auto' matmul kernel choice measured: "avx512 41.2, avx2 12.1, generic 3.4 GMAC/s per thread". */
  matmulRates?: string;
  /** With AVX-512: the direct stride-1 conv2d kernel's forms, measured: "avx512 7.8, ifma 9.9 GMAC/s per thread". */
  convDirectRates?: string;
  aes?: string;
  threads?: number;
  // CUDA module
  deviceAvailable?: boolean;
  unavailableReason?: string;
  deviceName?: string;
  deviceMemory?: number;
  computeCapability?: string;
  multiprocessors?: number;
  cudaRuntime?: string;
  cudaDriver?: string;
  cudaArchitectures?: string;
  /** Kernels the CUDA module runs on the host between a download and an upload (comma-separated). */
  hostFallbackKernels?: string;
  deviceCachedBytes?: number;
}

export interface NativeStats {
  /** JS-visible handles not yet garbage collected. */
  handles: number;
  /** Native buffers alive (a reshape shares its input's buffer). */
  storages: number;
  bytes: number;
  /** Freed buffers kept for reuse by the caching host allocator (TFE_HOST_CACHE_MB caps it). */
  cachedBytes: number;
}

/** A lane record being opened (native; lane.ts). */
export type LaneOpening = { readonly __laneOpening: unique symbol };

export interface NativeBinding {
  run(kernel: string, inputs: NativeHandle[], attrs?: Attrs): Promise<NativeTensorInfo[]>;
  runSync(kernel: string, inputs: NativeHandle[], attrs?: Attrs): NativeTensorInfo[];
  /** `stream` (CUDA module): the stream the upload is queued on; 0 when absent. */
  fromBytes(data: ArrayBufferView, shape: number[], dtype: string, stream?: number): NativeHandle;
  /** Waits for the value (on a device) and copies it out. */
  toBytes(handle: NativeHandle, stream?: number): ArrayBuffer;
  /** Like toBytes, but the wait for the value happens off the JS thread. */
  toBytesAsync(handle: NativeHandle, stream?: number): Promise<ArrayBuffer>;
  /**
   * The tensor's bytes without a copy (its host memory, kept alive by the buffer until collected
   * or detached); undefined for device memory. Read-only by contract: tensors are immutable.
   */
  bytesView(handle: NativeHandle): ArrayBuffer | undefined;
  /**
   * A host tensor whose bytes are not written yet, for a message decrypted straight into it (its
   * bytesView) before anyone else holds it; then checkHost. Throws where tensors are not in host memory.
   */
  emptyHost(shape: number[], dtype: string): NativeHandle;
  /** What fromBytes checks of its bytes (field and bit elements below their modulus), for a tensor from emptyHost. */
  checkHost(handle: NativeHandle): void;
  release(handle: NativeHandle): void;
  /**
   * Frees a JavaScript buffer's memory now (it reads as empty afterwards); false when V8 refuses.
   * Only for buffers nobody else holds (wire_buffers.ts).
   */
  detach(buffer: ArrayBuffer): boolean;
  stats(): NativeStats;
  info(): NativeInfo;
  setNumThreads(n: number): void;
  /** Frees the host cache's buffers freed at least idleMs ago (0: all), off the JS thread; resolves to their bytes. */
  trimHostCache(idleMs: number): Promise<number>;
  randomBytes(n: number): Uint8Array;
  aes128Ctr(key: Uint8Array, iv: Uint8Array, byteOffset: number, n: number, impl?: string): Uint8Array;
  /**
   * AES-128-GCM (OpenSSL's, Node's own) for the server links' lanes (lib/net/lane.ts): the parts
   * encrypted one after the other into `out`, then the 16-byte tag; the nonce is `counter`.
   */
  laneSeal(key: Uint8Array, counter: number, aad: Uint8Array, parts: Uint8Array[], out: Uint8Array): void;
  /** Opens a record piece by piece: begin, decrypt each piece src -> dst as it arrives, then check the tag (false when it does not match; the context is freed). */
  laneOpenBegin(key: Uint8Array, counter: number, aad: Uint8Array): LaneOpening;
  laneOpenUpdate(ctx: LaneOpening, src: Uint8Array, dst: Uint8Array): void;
  laneOpenEnd(ctx: LaneOpening, tag: Uint8Array): boolean;
  /**
   * TCP_USER_TIMEOUT on a socket's file descriptor (lib/net/lane.ts): sets it to `ms` when given,
   * then returns what the kernel holds (0: the system default), or -1 where the option does not
   * exist (not Linux).
   */
  tcpUserTimeout(fd: number, ms?: number): number;
}
