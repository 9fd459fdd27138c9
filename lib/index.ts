// tfjs-encrypted: secret-shared tensors on native kernels. This entry point exposes the
// ring-tensor core; the protocol layer (Pond, SecureNN) builds on it.
export { getBackend, setBackend, backendNames, registerBackend, type Backend } from './backend/backends';
export { info, memory, setNumThreads } from './info';
export * from './ops';
export * from './prg/prg';
export { type DType, fieldDType, modulusOf, bytesPerElement } from './tensor/dtype';
export { RingTensor, DEFAULT_FRAC_BITS } from './tensor/ring_tensor';
export { type Shape, shapeString, sizeOf } from './tensor/shape';
