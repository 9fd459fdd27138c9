// Candidate 'uint64': the ring GEMM in uint64 multiply-adds on the CUDA cores. A 64-bit
// multiply-add is three 32-bit IMADs (lo*lo wide, and the two cross products into the high
// word); wrap-around mod 2^64 is what the hardware does anyway, so no chunking is needed.
//
// Classic shared-memory tiling: a 256-thread block computes a 128 x 64 tile of C, each thread an
// 8 x 4 register block, over K in slices of 8 staged in shared memory. The next slice is loaded
// into registers while the current one is multiplied. The 32 independent accumulators give each
// warp plenty of IMADs in flight, so one block per SM (168 registers a thread, no spills; capping
// at 128 for two blocks spilled) is the chosen trade.
#include <climits>

#include "cuda/device.h"
#include "cuda/gemm_tile.cuh"
#include "cuda/matmul.h"

namespace tfe {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int BM = 128, BN = 64, BK = 8;  // block tile
constexpr int TM = 8, TN = 4;             // per-thread register block: 16 x 16 threads
// A is stored transposed (As[k][m]) so that a thread reads its 8 rows as four 16-byte loads. The
// 2-element pad spreads the transposing stores (consecutive k) over the banks; 130 * 8 bytes keeps
// every row 16-byte aligned.
constexpr int APAD = 2;
constexpr int kALoads = BM * BK / kThreads, kBLoads = BK * BN / kThreads;
static_assert(BM == 16 * TM && BN == 16 * TN && kThreads == 256, "16 x 16 threads cover the tile");
static_assert(BM * BK % kThreads == 0 && BK * BN % kThreads == 0, "tile loads split evenly");

__global__ void __launch_bounds__(kThreads, 1)
    gemmU64Kernel(const uint64_t* __restrict__ A, const uint64_t* __restrict__ B, uint64_t* __restrict__ C, int64_t m,
                  int64_t k, int64_t n, int64_t tilesN, int64_t batch, int64_t strideA, int64_t strideB) {
  __shared__ __align__(16) uint64_t As[BK][BM + APAD];
  __shared__ __align__(16) uint64_t Bs[BK][BN];
  const int t = threadIdx.x, tx = t % 16, ty = t / 16;
  const int64_t m0 = (blockIdx.x / tilesN) * BM, n0 = (blockIdx.x % tilesN) * BN;

  for (int64_t z = blockIdx.y; z < batch; z += gridDim.y) {
    const uint64_t* a = A + z * strideA;
    const uint64_t* b = B + z * strideB;
    uint64_t* c = C + z * m * n;
    uint64_t ra[kALoads], rb[kBLoads];
    // Global -> registers for the slice at k0; out-of-range entries read as 0. A is read along k
    // (8 consecutive elements per row), B along n: both coalesce.
    auto load = [&](int64_t k0) { loadGemmSlice<kThreads, BM, BN, BK>(a, b, m, n, k, k, m0, n0, k0, ra, rb); };
    uint64_t acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
      for (int j = 0; j < TN; ++j) acc[i][j] = 0;

    load(0);
    for (int64_t k0 = 0; k0 < k; k0 += BK) {
#pragma unroll
      for (int p = 0; p < kALoads; ++p) {
        int idx = t + p * kThreads;
        As[idx % BK][idx / BK] = ra[p];
      }
#pragma unroll
      for (int p = 0; p < kBLoads; ++p) {
        int idx = t + p * kThreads;
        Bs[idx / BN][idx % BN] = rb[p];
      }
      __syncthreads();
      if (k0 + BK < k) load(k0 + BK);  // in flight while this slice is multiplied
#pragma unroll
      for (int kk = 0; kk < BK; ++kk) {
        uint64_t av[TM], bv[TN];
        const ulonglong2* ap = reinterpret_cast<const ulonglong2*>(&As[kk][ty * TM]);
        const ulonglong2* bp = reinterpret_cast<const ulonglong2*>(&Bs[kk][tx * TN]);
#pragma unroll
        for (int q = 0; q < TM / 2; ++q) {
          ulonglong2 v = ap[q];
          av[2 * q] = v.x;
          av[2 * q + 1] = v.y;
        }
#pragma unroll
        for (int q = 0; q < TN / 2; ++q) {
          ulonglong2 v = bp[q];
          bv[2 * q] = v.x;
          bv[2 * q + 1] = v.y;
        }
#pragma unroll
        for (int i = 0; i < TM; ++i)
#pragma unroll
          for (int j = 0; j < TN; ++j) acc[i][j] += av[i] * bv[j];
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; ++i) {
      int64_t row = m0 + ty * TM + i;
      if (row >= m) break;
#pragma unroll
      for (int j = 0; j < TN; ++j) {
        int64_t col = n0 + tx * TN + j;
        if (col < n) c[row * n + col] = acc[i][j];
      }
    }
  }
}

}  // namespace

void gemmUint64(const GemmArgs& g, cudaStream_t s) {
  int64_t tilesM = (g.m + BM - 1) / BM, tilesN = (g.n + BN - 1) / BN;
  if (tilesM * tilesN > INT_MAX) throw KernelError("MatMul: output of " + std::to_string(g.m) + " x " + std::to_string(g.n) + " is too large for one launch");
  dim3 grid(static_cast<unsigned>(tilesM * tilesN), static_cast<unsigned>(g.batch < 65535 ? g.batch : 65535));
  gemmU64Kernel<<<grid, kThreads, 0, s>>>(g.a, g.b, g.c, g.m, g.k, g.n, tilesN, g.batch, g.strideA, g.strideB);
  TFE_CUDA_LAUNCHED();
}

}  // namespace cuda
}  // namespace tfe
