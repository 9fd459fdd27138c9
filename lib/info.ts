import { type Backend, getBackend } from './backend/backends';
import type { NativeInfo, NativeStats } from './backend/native_binding';
import { liveTensorCount } from './tensor/ring_tensor';

/** Which backend is in use, what the CPU offers and which kernels are compiled in. */
export function info(backend: Backend = getBackend()): NativeInfo & { version: string } {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { version } = require('../../package.json') as { version: string };
  return { ...backend.native.info(), version };
}

/** Live tensors and native memory, to find leaks. */
export function memory(backend: Backend = getBackend()): NativeStats & { tensors: number } {
  return { ...backend.native.stats(), tensors: liveTensorCount() };
}

/** Size of the native thread pool used inside kernels (default: all cores, or TFE_NUM_THREADS). */
export function setNumThreads(n: number, backend: Backend = getBackend()): void {
  backend.native.setNumThreads(n);
}
