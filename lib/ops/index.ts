export * from './arithmetic';
export * from './bits';
export * from './conv';
export * from './layout';
export * from './linalg';
export * from './reduce';
export * as kernelNames from './kernel_names';
export * from './odd_ring';
export * from './securenn_kernels';
