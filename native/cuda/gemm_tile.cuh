// The global-to-register staging shared by the tiled ring GEMMs (matmul_uint64.cu and the fp64
// limb kernel in matmul_fp64.cu): one K-slice of a BM x BK tile of A and a BK x BN tile of B,
// spread over the block's threads. A is read along k and B along n, so both loads coalesce.
#pragma once
#include <cstdint>

namespace tfe {
namespace cuda {

// Loads A[m0 + i][k0 + kk] (row stride lda) and B[k0 + kk][n0 + j] (row stride n) into the
// thread's registers; entries outside m x kLimit and kLimit x n read as 0.
template <int kThreads, int BM, int BN, int BK>
__device__ __forceinline__ void loadGemmSlice(const uint64_t* __restrict__ a, const uint64_t* __restrict__ b, int64_t m,
                                              int64_t n, int64_t lda, int64_t kLimit, int64_t m0, int64_t n0, int64_t k0,
                                              uint64_t (&ra)[BM * BK / kThreads], uint64_t (&rb)[BK * BN / kThreads]) {
  const int t = threadIdx.x;
#pragma unroll
  for (int p = 0; p < BM * BK / kThreads; ++p) {
    int idx = t + p * kThreads, kk = idx % BK, mm = idx / BK;
    int64_t row = m0 + mm, col = k0 + kk;
    ra[p] = (row < m && col < kLimit) ? a[row * lda + col] : 0;
  }
#pragma unroll
  for (int p = 0; p < BK * BN / kThreads; ++p) {
    int idx = t + p * kThreads, nn = idx % BN, kk = idx / BN;
    int64_t row = k0 + kk, col = n0 + nn;
    rb[p] = (row < kLimit && col < n) ? b[row * n + col] : 0;
  }
}

}  // namespace cuda
}  // namespace tfe
