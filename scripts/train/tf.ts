// TensorFlow.js (a devDependency, used only to train the bundled models) with the WASM backend.
// It is loaded with require() and typed by hand, for the few calls training makes: its own .d.ts
// files need the DOM lib (WebGLTexture, ImageData, ...), which this strict Node build leaves out
// and, with skipLibCheck off, would fail the whole compile.

export interface Tensor {
  readonly shape: number[];
  readonly dtype: string;
  dataSync(): Float32Array | Int32Array | Uint8Array;
  data(): Promise<Float32Array | Int32Array | Uint8Array>;
  dispose(): void;
}

/** A tensor as kernels see it (backend data id, no methods). */
export interface TensorInfo {
  dataId: object;
  shape: number[];
  dtype: string;
}

export interface KernelBackend {
  disposeData(dataId: object, force?: boolean): boolean;
}

export type KernelFunc = (args: { inputs: Record<string, TensorInfo> | TensorInfo[]; backend: KernelBackend; attrs?: Record<string, unknown> }) => TensorInfo | TensorInfo[];

export interface KernelConfig {
  kernelName: string;
  backendName: string;
  kernelFunc: KernelFunc;
  setupFunc?: unknown;
  disposeFunc?: unknown;
}

export interface ConvInfo {
  batchSize: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padInfo: { top: number; bottom: number; left: number; right: number; type: string };
}

export interface Layer {
  readonly name: string;
}

export interface History {
  history: Record<string, number[]>;
}

export interface ModelArtifacts {
  modelTopology?: object;
  weightSpecs?: { name: string; shape: number[]; dtype: string }[];
  weightData?: ArrayBuffer | ArrayBuffer[];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
}

export interface SaveResult {
  modelArtifactsInfo: { dateSaved: Date; modelTopologyType: 'JSON' | 'GraphDef' };
}

export interface Optimizer {
  learningRate: number;
}

export interface Sequential {
  add(layer: Layer): void;
  compile(args: { optimizer: Optimizer; loss: (yTrue: Tensor, yPred: Tensor) => Tensor }): void;
  fit(x: Tensor, y: Tensor, args: { batchSize: number; epochs: number; shuffle: boolean; verbose: number }): Promise<History>;
  predict(x: Tensor, args?: { batchSize?: number }): Tensor;
  save(handler: unknown): Promise<SaveResult>;
  countParams(): number;
  readonly layers: Layer[];
}

type LayerFactory = (config?: Record<string, unknown>) => Layer;
type Initializer = object;

export interface TF {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  tidy<T>(fn: () => T): T;
  memory(): { numTensors: number; numBytes: number };
  tensor(values: ArrayLike<number>, shape: number[], dtype?: string): Tensor;
  oneHot(indices: Tensor, depth: number): Tensor;
  gather(x: Tensor, indices: Tensor): Tensor;
  argMax(x: Tensor, axis?: number): Tensor;
  equal(a: Tensor, b: Tensor): Tensor;
  sum(x: Tensor): Tensor;
  mul(a: Tensor, b: Tensor): Tensor;
  matMul(a: Tensor, b: Tensor, transposeA?: boolean, transposeB?: boolean): Tensor;
  conv2d(x: Tensor, filter: Tensor, strides: number | [number, number], pad: 'valid' | 'same'): Tensor;
  grad(f: (x: Tensor) => Tensor): (x: Tensor) => Tensor;
  registerKernel(config: KernelConfig): void;
  unregisterKernel(kernelName: string, backendName: string): void;
  getKernel(kernelName: string, backendName: string): KernelConfig | undefined;
  backend_util: {
    computeConv2DInfo(
      inShape: number[],
      filterShape: number[],
      strides: number | [number, number],
      dilations: number | [number, number],
      pad: unknown,
      roundingMode: unknown,
      depthwise: boolean,
      dataFormat: 'channelsLast' | 'channelsFirst',
    ): ConvInfo;
  };
  losses: { softmaxCrossEntropy(onehotLabels: Tensor, logits: Tensor): Tensor };
  train: { adam(learningRate: number): Optimizer };
  sequential(config?: { name?: string }): Sequential;
  layers: Record<'dense' | 'conv2d' | 'averagePooling2d' | 'maxPooling2d' | 'flatten' | 'reLU', LayerFactory>;
  initializers: { glorotUniform(args: { seed: number }): Initializer; zeros(): Initializer };
  io: { withSaveHandler(handler: (artifacts: ModelArtifacts) => Promise<SaveResult>): unknown };
}

/** TensorFlow.js with the wasm backend registered (not yet selected: see useWasm()). */
export const tf: TF = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');

/** Selects the wasm backend (single-threaded here: Node has no wasm threads for it). */
export async function useWasm(): Promise<void> {
  if (!(await tf.setBackend('wasm'))) throw new Error('the TensorFlow.js wasm backend failed to start');
  await tf.ready();
}
