// Candidate 'int8': the ring GEMM on the int8 tensor cores (ring_limbs.h). Each operand splits into
// eight 8-bit limbs; the 36 limb pairs with i + j < 8 are u8 x u8 matrix products accumulated in
// int32 by WMMA (sm_75+), one accumulator per diagonal s = i + j, folded as
// sum_s 2^(8 s) S_s mod 2^64. Diagonals s >= 4 only need their sum mod 2^32, which the int32
// wrap-around gives; diagonals s < 4 need it exactly, which holds for K-chunks of up to
// kInt8ChunkK = 2^14: longer K runs as several launches that add into C (in uint64).
//
// Two steps on the stream:
//  1. split: A and B into eight u8 limb planes each (device scratch from allocDevice), both with k
//     contiguous: A as [8][m][Kp], B transposed as [8][Np][Kp] (K and N rounded up to 16,
//     zero-filled), so the GEMM reads whole aligned 16-byte runs. k-contiguous operands are the
//     tensor cores' native row x col layout; a row-major B fragment makes ptxas transpose it for
//     every MMA (and doubled the registers). Splitting once costs one pass over the inputs;
//     splitting in the GEMM would repeat it for every tile that reads an element.
//  2. GEMM over the planes: a 256-thread block computes a 32 x 64 tile of C; each of its 8 warps a
//     16 x 16 tile with the 8 diagonal accumulators. Per 16-deep step a warp loads its 8 B-limb
//     fragments once and each A-limb fragment once, and issues the 36 MMAs between them. The next
//     K-slice is loaded into registers meanwhile. That takes ~195 registers a thread (8 x 8
//     accumulator words, 8 B fragments, the prefetch), so one block per SM; capping at 128 for
//     two blocks spilled in the inner loop.
#include <mma.h>

#include <climits>

#include "cuda/device.h"
#include "cuda/matmul.h"
#include "cuda/ring_limbs.h"

namespace tfe {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int BM = 32, BN = 64, BK = 32;  // block tile; BK in k-steps (bytes per plane row)
constexpr int L = kInt8Limbs;
// Shared layout: planes cut into 16-deep k blocks so that each 16 x 16 WMMA operand is one
// contiguous 256-byte run (WMMA needs 32-byte aligned fragment pointers, and ldm = 16 bytes):
//   As[l][kb][row 0..31][16 k-bytes]   kb: which 16 of the 32 k-steps
//   Bs[l][kb][col 0..63][16 k-bytes]   read as col-major 16 x 16 B fragments
constexpr int kABytes = L * BM * BK, kBBytes = L * BK * BN;
constexpr int kAChunks = kABytes / 16, kBChunks = kBBytes / 16;  // 16-byte loads per tile
constexpr int kALoads = kAChunks / kThreads, kBLoads = kBChunks / kThreads;
static_assert(kAChunks % kThreads == 0 && kBChunks % kThreads == 0, "tile loads split evenly");
static_assert(kInt8ChunkK % BK == 0, "chunks hold whole slices");
// The epilogue stages each warp's 16 x 16 result as two int32 tiles (low and high words).
static_assert(kThreads / 32 * 2 * 256 * 4 <= kABytes + kBBytes, "epilogue staging fits in the tile buffers");

// A -> [batch][8][rows][colsP]: one thread per (matrix, row, 4 columns) packs 4 ring elements
// into one 32-bit word of each of the 8 limb planes; columns >= cols are zero padding.
__global__ void splitRowsKernel(const uint64_t* __restrict__ X, uint32_t* __restrict__ P, int64_t rows, int64_t cols,
                                int64_t colsP, int64_t batch, int64_t strideX) {
  const int64_t quads = colsP / 4, plane = rows * quads, total = batch * plane;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t q = i % quads, r = (i / quads) % rows, z = i / plane;
    const uint64_t* src = X + z * strideX + r * cols;
    uint64_t x[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) x[e] = q * 4 + e < cols ? src[q * 4 + e] : 0;
    uint32_t* dst = P + z * L * plane + r * quads + q;
#pragma unroll
    for (int l = 0; l < L; ++l) dst[l * plane] = packLimb8(x[0], x[1], x[2], x[3], l);
  }
}

// B (rows x cols, row-major) -> transposed planes [batch][8][colsP][rowsP], zero-padded. A block
// stages a 32 x 32 tile in shared memory so that both the reads (along a row of B) and the writes
// (along a row of a plane, 8 threads per 32 bytes) coalesce.
constexpr int kTT = 32;
__global__ void splitColsKernel(const uint64_t* __restrict__ X, uint32_t* __restrict__ P, int64_t rows, int64_t rowsP,
                                int64_t cols, int64_t colsP, int64_t tilesC, int64_t batch, int64_t strideX) {
  __shared__ uint64_t tile[kTT][kTT + 1];  // +1: the column reads below hit distinct banks
  const int t = threadIdx.x;
  const int64_t r0 = (blockIdx.x / tilesC) * kTT, c0 = (blockIdx.x % tilesC) * kTT;
  const int64_t quads = rowsP / 4, plane = colsP * quads;
  for (int64_t z = blockIdx.y; z < batch; z += gridDim.y) {
    const uint64_t* src = X + z * strideX;
    for (int idx = t; idx < kTT * kTT; idx += blockDim.x) {
      int64_t r = r0 + idx / kTT, c = c0 + idx % kTT;
      tile[idx / kTT][idx % kTT] = (r < rows && c < cols) ? src[r * cols + c] : 0;
    }
    __syncthreads();
    for (int idx = t; idx < kTT * kTT / 4; idx += blockDim.x) {
      int c = idx / (kTT / 4), q = idx % (kTT / 4);
      int64_t gc = c0 + c, gq = r0 / 4 + q;
      if (gc >= colsP || gq >= quads) continue;
      uint32_t* dst = P + z * L * plane + gc * quads + gq;
#pragma unroll
      for (int l = 0; l < L; ++l)
        dst[l * plane] = packLimb8(tile[4 * q][c], tile[4 * q + 1][c], tile[4 * q + 2][c], tile[4 * q + 3][c], l);
    }
    __syncthreads();  // the tile is refilled for the next batch entry
  }
}

// C (+)= the ring product over plane columns / rows [kBegin, kEnd) (at most kInt8ChunkK of them).
__global__ void __launch_bounds__(kThreads, 1)
    gemmInt8Kernel(const uint8_t* __restrict__ Ap, const uint8_t* __restrict__ Bp, uint64_t* __restrict__ C, int64_t m,
                   int64_t n, int64_t kp, int64_t np, int64_t kBegin, int64_t kEnd, int64_t tilesN, int64_t batch,
                   int64_t strideA, int64_t strideB, bool accumulate) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
  using namespace nvcuda;
  __shared__ __align__(128) uint8_t smem[kABytes + kBBytes];
  uint8_t* As = smem;
  uint8_t* Bs = smem + kABytes;
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  const int wm = warp / 4, wn = warp % 4;  // 2 x 4 warps of 16 x 16
  const int64_t m0 = (blockIdx.x / tilesN) * BM, n0 = (blockIdx.x % tilesN) * BN;
  const int64_t planeA = m * kp, planeB = kp * np;

  // Chunk c of a tile -> (limb, 16-byte block, row). Within each group of 8 consecutive threads
  // the rows run consecutively: the shared stores of a quarter-warp are one contiguous 128 bytes,
  // and a warp reads whole 32-byte sectors of global memory.
  auto aChunk = [](int c, int& l, int& kb, int& row) {
    l = c / (2 * BM);
    int r = c % (2 * BM), q = r / 8;
    kb = q % 2;
    row = (q / 2) * 8 + r % 8;
  };
  auto bChunk = [](int c, int& l, int& kb, int& col) {
    l = c / (2 * BN);
    int r = c % (2 * BN), q = r / 8;
    kb = q % 2;
    col = (q / 2) * 8 + r % 8;
  };

  for (int64_t z = blockIdx.y; z < batch; z += gridDim.y) {
    const uint8_t* a = Ap + z * strideA;
    const uint8_t* b = Bp + z * strideB;
    uint64_t* c = C + z * m * n;
    uint4 ra[kALoads], rb[kBLoads];
    auto load = [&](int64_t k0) {
#pragma unroll
      for (int p = 0; p < kALoads; ++p) {
        int l, kb, row;
        aChunk(t + p * kThreads, l, kb, row);
        int64_t gr = m0 + row, gk = k0 + kb * 16;
        ra[p] = (gr < m && gk < kEnd) ? *reinterpret_cast<const uint4*>(a + l * planeA + gr * kp + gk) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int p = 0; p < kBLoads; ++p) {
        int l, kb, col;
        bChunk(t + p * kThreads, l, kb, col);
        int64_t gc = n0 + col, gk = k0 + kb * 16;
        rb[p] = (gc < np && gk < kEnd) ? *reinterpret_cast<const uint4*>(b + l * planeB + gc * kp + gk) : make_uint4(0, 0, 0, 0);
      }
    };
    wmma::fragment<wmma::accumulator, 16, 16, 16, int> acc[L];
#pragma unroll
    for (int s = 0; s < L; ++s) wmma::fill_fragment(acc[s], 0);

    load(kBegin);
    for (int64_t k0 = kBegin; k0 < kEnd; k0 += BK) {
#pragma unroll
      for (int p = 0; p < kALoads; ++p) {
        int l, kb, row;
        aChunk(t + p * kThreads, l, kb, row);
        *reinterpret_cast<uint4*>(As + ((l * 2 + kb) * BM + row) * 16) = ra[p];
      }
#pragma unroll
      for (int p = 0; p < kBLoads; ++p) {
        int l, kb, col;
        bChunk(t + p * kThreads, l, kb, col);
        *reinterpret_cast<uint4*>(Bs + ((l * 2 + kb) * BN + col) * 16) = rb[p];
      }
      __syncthreads();
      if (k0 + BK < kEnd) load(k0 + BK);  // in flight during the MMAs
#pragma unroll 1
      for (int kb = 0; kb < BK / 16; ++kb) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, unsigned char, wmma::col_major> fb[L];
#pragma unroll
        for (int j = 0; j < L; ++j) wmma::load_matrix_sync(fb[j], Bs + ((j * 2 + kb) * BN + wn * 16) * 16, 16);
#pragma unroll
        for (int i = 0; i < L; ++i) {
          wmma::fragment<wmma::matrix_a, 16, 16, 16, unsigned char, wmma::row_major> fa;
          wmma::load_matrix_sync(fa, As + ((i * 2 + kb) * BM + wm * 16) * 16, 16);
#pragma unroll
          for (int j = 0; j < L - i; ++j) wmma::mma_sync(acc[i + j], fa, fb[j], acc[i + j]);  // wraps, no satf
        }
      }
      __syncthreads();
    }

    // Fold the diagonals per fragment element (the element <-> position map is the same for every
    // accumulator fragment), stage the 64-bit results as low / high int32 tiles, write them out.
    wmma::fragment<wmma::accumulator, 16, 16, 16, int> lo, hi;
#pragma unroll
    for (int e = 0; e < lo.num_elements; ++e) {
      uint32_t d[L];
#pragma unroll
      for (int s = 0; s < L; ++s) d[s] = static_cast<uint32_t>(acc[s].x[e]);
      uint64_t v = int8Fold(d);
      lo.x[e] = static_cast<int>(static_cast<uint32_t>(v));
      hi.x[e] = static_cast<int>(static_cast<uint32_t>(v >> 32));
    }
    int* stage = reinterpret_cast<int*>(smem) + warp * 512;  // after the loop's last barrier
    wmma::store_matrix_sync(stage, lo, 16, wmma::mem_row_major);
    wmma::store_matrix_sync(stage + 256, hi, 16, wmma::mem_row_major);
    __syncwarp();
#pragma unroll
    for (int q = 0; q < 8; ++q) {
      int e = lane + 32 * q;
      int64_t row = m0 + wm * 16 + e / 16, col = n0 + wn * 16 + e % 16;
      if (row < m && col < n) {
        uint64_t v = (uint64_t(static_cast<uint32_t>(stage[256 + e])) << 32) | static_cast<uint32_t>(stage[e]);
        uint64_t* p = c + row * n + col;
        *p = accumulate ? *p + v : v;
      }
    }
    __syncthreads();  // the staging area is the next batch entry's tile buffer
  }
#else
  __trap();  // the host side refuses devices below sm_75
#endif
}

int64_t roundUp16(int64_t v) { return (v + 15) / 16 * 16; }

}  // namespace

void gemmInt8(const GemmArgs& g, cudaStream_t s) {
  const int64_t kp = roundUp16(g.k), np = roundUp16(g.n);
  const int64_t batchA = g.strideA ? g.batch : 1, batchB = g.strideB ? g.batch : 1;
  const int64_t bytesA = L * g.m * kp, bytesB = L * np * kp;  // per batch entry, multiples of 16
  // Scratch as ring64 tensors: the caching allocator recycles them in stream order after use.
  Tensor pa = allocDevice({batchA * bytesA / 8}, DType::Ring64);
  Tensor pb = allocDevice({batchB * bytesB / 8}, DType::Ring64);
  splitRowsKernel<<<gridFor(batchA * g.m * kp / 4), 256, 0, s>>>(g.a, devPtr<uint32_t>(pa), g.m, g.k, kp, batchA, g.strideA);
  TFE_CUDA_LAUNCHED();
  int64_t tilesR = (kp + kTT - 1) / kTT, tilesC = (np + kTT - 1) / kTT;
  if (tilesR * tilesC > INT_MAX) throw KernelError("MatMul: second input too large for the int8 split");
  splitColsKernel<<<dim3(static_cast<unsigned>(tilesR * tilesC), static_cast<unsigned>(batchB < 65535 ? batchB : 65535)), 256, 0, s>>>(
      g.b, devPtr<uint32_t>(pb), g.k, kp, g.n, np, tilesC, batchB, g.strideB);
  TFE_CUDA_LAUNCHED();

  int64_t tilesM = (g.m + BM - 1) / BM, tilesN = (g.n + BN - 1) / BN;
  if (tilesM * tilesN > INT_MAX) throw KernelError("MatMul: output of " + std::to_string(g.m) + " x " + std::to_string(g.n) + " is too large for one launch");
  dim3 grid(static_cast<unsigned>(tilesM * tilesN), static_cast<unsigned>(g.batch < 65535 ? g.batch : 65535));
  for (int64_t k0 = 0; k0 < kp; k0 += kInt8ChunkK) {
    int64_t k1 = kp - k0 < kInt8ChunkK ? kp : k0 + kInt8ChunkK;
    gemmInt8Kernel<<<grid, kThreads, 0, s>>>(devPtr<uint8_t>(pa), devPtr<uint8_t>(pb), g.c, g.m, g.n, kp, np, k0, k1, tilesN,
                                             g.batch, batchA > 1 ? bytesA : 0, batchB > 1 ? bytesB : 0, k0 > 0);
    TFE_CUDA_LAUNCHED();
  }
}

}  // namespace cuda
}  // namespace tfe
