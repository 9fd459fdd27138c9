// Candidate 'fp64': the ring GEMM as fp64 GEMMs of 16-bit limbs (ring_limbs.h). Each operand splits
// into four 16-bit limbs; the 10 limb-pair products a_i b_j with i + j < 4 are fp64 matrix
// products, summed per diagonal s = i + j and folded as sum_s 2^(16 s) S_s mod 2^64. Every
// product is < 2^32 and a diagonal's K-sum stays an exact integer below 2^53 for K-chunks of up to
// kFp64ChunkK = 2^19; longer K runs as several launches that add into C.
//
// The 10 products are fused into one kernel rather than 10 GEMM launches: the limbs are split in
// registers from uint64 tiles in shared memory (the uint64 data is read once, not 4 times as
// double planes), and each limb fragment feeds every pair it belongs to. On sm_80+ the products
// run on the fp64 tensor cores (DMMA, mma.sync m8n8k4); below that the same fragment contract is
// computed with shuffles and fp64 FMAs (correct, slow: those GPUs have little fp64).
//
// Tiling: a 256-thread block computes a 32 x 64 tile of C; each of its 8 warps a 16 x 16 tile as
// 2 x 2 fragments of 8 x 8 with 4 diagonal accumulators each (32 doubles a lane). The next K-slice
// is loaded into registers while this one is multiplied. Two blocks per SM cap the kernel at 128
// registers, where ptxas spills a few (72 bytes a thread, to L1); one block would need 190.
#include <climits>

#include "cuda/device.h"
#include "cuda/gemm_tile.cuh"
#include "cuda/matmul.h"
#include "cuda/ring_limbs.h"

namespace tfe {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int BM = 32, BN = 64, BK = 16;
// Row pads chosen so that the fragment reads below hit each bank group once per half-warp pass:
// A rows are 160 bytes apart (4 rows cover the 128 banks-bytes), B rows 576 (2 rows do).
constexpr int LDA = BK + 4, LDB = BN + 8;
constexpr int kALoads = BM * BK / kThreads, kBLoads = BK * BN / kThreads;
static_assert(BM * BK % kThreads == 0 && BK * BN % kThreads == 0, "tile loads split evenly");
static_assert(kFp64ChunkK % BK == 0, "chunks hold whole slices");

// D(8x8) += A(8x4) B(4x8) with the PTX m8n8k4 fragment layout: lane l holds A[l/4][l%4] in a,
// B[l%4][l/4] in b, and D[l/4][2(l%4) + e] in d_e.
__device__ __forceinline__ void dmma(double& d0, double& d1, double a, double b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};" : "+d"(d0), "+d"(d1) : "d"(a), "d"(b));
#else
  const int lane = threadIdx.x & 31, r = lane >> 2, c = 2 * (lane & 3);
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    double av = __shfl_sync(0xffffffffu, a, r * 4 + q);
    d0 += av * __shfl_sync(0xffffffffu, b, c * 4 + q);
    d1 += av * __shfl_sync(0xffffffffu, b, (c + 1) * 4 + q);
  }
#endif
}

// C (+)= A[:, kBegin:kBegin+kLen] B[kBegin:kBegin+kLen, :] for one chunk, kLen <= kFp64ChunkK.
__global__ void __launch_bounds__(kThreads, 2)
    gemmFp64Kernel(const uint64_t* __restrict__ A, const uint64_t* __restrict__ B, uint64_t* __restrict__ C, int64_t m,
                   int64_t k, int64_t n, int64_t kBegin, int64_t kLen, int64_t tilesN, int64_t batch, int64_t strideA,
                   int64_t strideB, bool accumulate) {
  __shared__ __align__(16) uint64_t As[BM][LDA];
  __shared__ __align__(16) uint64_t Bs[BK][LDB];
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  const int wm = warp / 4, wn = warp % 4;            // 2 x 4 warps of 16 x 16
  const int fr = lane >> 2, fc = lane & 3;           // fragment row / column of this lane
  const int64_t m0 = (blockIdx.x / tilesN) * BM, n0 = (blockIdx.x % tilesN) * BN;

  for (int64_t z = blockIdx.y; z < batch; z += gridDim.y) {
    const uint64_t* a = A + z * strideA + kBegin;  // row stride k
    const uint64_t* b = B + z * strideB + kBegin * n;
    uint64_t* c = C + z * m * n;
    uint64_t ra[kALoads], rb[kBLoads];
    auto load = [&](int64_t k0) { loadGemmSlice<kThreads, BM, BN, BK>(a, b, m, n, k, kLen, m0, n0, k0, ra, rb); };
    // acc[s][fm][fn][e]: diagonal s of fragment (fm, fn), element e of this lane.
    double acc[kFp64Limbs][2][2][2];
#pragma unroll
    for (int s = 0; s < kFp64Limbs; ++s)
#pragma unroll
      for (int q = 0; q < 8; ++q) acc[s][q / 4][(q / 2) % 2][q % 2] = 0.0;

    load(0);
    for (int64_t k0 = 0; k0 < kLen; k0 += BK) {
#pragma unroll
      for (int p = 0; p < kALoads; ++p) {
        int idx = t + p * kThreads;
        As[idx / BK][idx % BK] = ra[p];
      }
#pragma unroll
      for (int p = 0; p < kBLoads; ++p) {
        int idx = t + p * kThreads;
        Bs[idx / BN][idx % BN] = rb[p];
      }
      __syncthreads();
      if (k0 + BK < kLen) load(k0 + BK);
#pragma unroll 1
      for (int k4 = 0; k4 < BK; k4 += 4) {
        // The A limbs of both fragment rows stay in registers; the B limbs are split one
        // fragment column at a time (fewer live registers: two blocks fit an SM).
        double al[2][kFp64Limbs];
#pragma unroll
        for (int f = 0; f < 2; ++f) fp64Split(As[wm * 16 + f * 8 + fr][k4 + fc], al[f]);
#pragma unroll
        for (int fn = 0; fn < 2; ++fn) {
          double bl[kFp64Limbs];
          fp64Split(Bs[k4 + fc][wn * 16 + fn * 8 + fr], bl);
#pragma unroll
          for (int fm = 0; fm < 2; ++fm)
#pragma unroll
            for (int i = 0; i < kFp64Limbs; ++i)
#pragma unroll
              for (int j = 0; j < kFp64Limbs - i; ++j)
                dmma(acc[i + j][fm][fn][0], acc[i + j][fm][fn][1], al[fm][i], bl[j]);
        }
      }
      __syncthreads();
    }
    // Fold the exact diagonal sums into the ring and write this lane's two elements per fragment.
#pragma unroll
    for (int fm = 0; fm < 2; ++fm)
#pragma unroll
      for (int fn = 0; fn < 2; ++fn)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          int64_t row = m0 + wm * 16 + fm * 8 + fr, col = n0 + wn * 16 + fn * 8 + 2 * fc + e;
          if (row >= m || col >= n) continue;
          double d[kFp64Limbs];
#pragma unroll
          for (int s = 0; s < kFp64Limbs; ++s) d[s] = acc[s][fm][fn][e];
          uint64_t v = fp64Fold(d);
          uint64_t* p = c + row * n + col;
          *p = accumulate ? *p + v : v;
        }
  }
}

}  // namespace

void gemmFp64(const GemmArgs& g, cudaStream_t s) {
  int64_t tilesM = (g.m + BM - 1) / BM, tilesN = (g.n + BN - 1) / BN;
  if (tilesM * tilesN > INT_MAX) throw KernelError("MatMul: output of " + std::to_string(g.m) + " x " + std::to_string(g.n) + " is too large for one launch");
  dim3 grid(static_cast<unsigned>(tilesM * tilesN), static_cast<unsigned>(g.batch < 65535 ? g.batch : 65535));
  // Launches of one stream run in order: chunk c + 1 adds onto what chunk c wrote.
  for (int64_t k0 = 0; k0 < g.k; k0 += kFp64ChunkK) {
    int64_t len = g.k - k0 < kFp64ChunkK ? g.k - k0 : kFp64ChunkK;
    gemmFp64Kernel<<<grid, kThreads, 0, s>>>(g.a, g.b, g.c, g.m, g.k, g.n, k0, len, tilesN, g.batch, g.strideA, g.strideB, k0 > 0);
    TFE_CUDA_LAUNCHED();
  }
}

}  // namespace cuda
}  // namespace tfe
