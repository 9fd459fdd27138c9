// The ring-tensor core: RingTensor, the kernels' ops over Z_2^64, Z_p and bits, and the PRG.
// Exposed as `ring` from the package root, whose top-level ops work on private tensors.
export { getBackend, setBackend, backendNames, registerBackend, type Backend } from './backend/backends';
export { info, cpuInfo, memory, setNumThreads, type BackendInfo } from './info';
export * from './ops';
export * from './prg/prg';
export { type DType, fieldDType, modulusOf, bytesPerElement } from './tensor/dtype';
export { RingTensor, DEFAULT_FRAC_BITS } from './tensor/ring_tensor';
export { type Shape, shapeString, sizeOf } from './tensor/shape';
