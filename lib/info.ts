import * as os from 'node:os';

import { type Backend, getBackend, packageRoot } from './backend/backends';
import { type CudaStatus, probeCuda } from './backend/cuda_loader';
import type { NativeInfo, NativeStats } from './backend/native_binding';
import { liveTensorCount } from './tensor/ring_tensor';

export interface BackendInfo extends NativeInfo {
  version: string;
  /** The device computing: the GPU's name, or the CPU model. */
  device: string;
  /** The device's memory in bytes (GPU memory, or the host's RAM). */
  memoryBytes: number;
  /** Whether a CUDA device could be used here, and why not. */
  cuda: CudaStatus;
}

/** The backend in use (or the one given), its device and memory, and how it was built. */
export function info(backend: Backend = getBackend()): BackendInfo {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { version } = require('../../package.json') as { version: string };
  const n = backend.native.info();
  const gpu = n.backend === 'cuda';
  const { info: _probeInfo, ...cuda } = probeCuda(packageRoot);
  return {
    ...n,
    version,
    device: gpu ? n.deviceName ?? 'unknown GPU' : os.cpus()[0]?.model ?? 'unknown CPU',
    memoryBytes: gpu ? n.deviceMemory ?? 0 : os.totalmem(),
    cuda,
  };
}

/** The CPU module's report, with its CPU fields present (features, matmul kernel, AES, threads). */
export function cpuInfo(): Required<Pick<NativeInfo, 'cpuFeatures' | 'matmulKernel' | 'aes' | 'threads'>> & NativeInfo {
  const n = getBackend('cpu').native.info();
  return { ...n, cpuFeatures: n.cpuFeatures ?? '', matmulKernel: n.matmulKernel ?? '', aes: n.aes ?? '', threads: n.threads ?? 1 };
}

/** Live tensors and native memory, to find leaks. */
export function memory(backend: Backend = getBackend()): NativeStats & { tensors: number } {
  return { ...backend.native.stats(), tensors: liveTensorCount() };
}

/** Size of the native thread pool used inside kernels (default: all cores, or TFE_NUM_THREADS). */
export function setNumThreads(n: number, backend: Backend = getBackend()): void {
  backend.native.setNumThreads(n);
}
