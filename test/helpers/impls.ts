// The matmul kernels the default backend has, so that the BigInt-reference tests check every one
// of them (not just the one 'auto' picks): the CPU micro-kernels this CPU can run, or on a GPU
// host, where 'auto' picks CUDA, the three CUDA candidates.
import { cpuInfo, getBackend, type MatMulImpl } from '../../lib/ring';

export function matmulImpls(): MatMulImpl[] {
  if (getBackend().name === 'cuda') return ['uint64', 'fp64', 'int8'];
  const features = cpuInfo().cpuFeatures;
  return [
    'generic',
    ...(features.includes('avx2') ? ['avx2' as const] : []),
    ...(features.includes('avx512f') ? ['avx512' as const] : []),
    ...(features.includes('avx512ifma') ? ['ifma' as const] : []),
    ...(features.includes('amx-int8') ? ['amx' as const] : []),
  ];
}
