// Ring GEMM benchmark (`tfe_cuda_test --bench`): each candidate at 4096^3 in T-MAC/s (ring
// multiply-adds mod 2^64 per second), each result checked against the uint64 candidate so that a
// fast but wrong candidate is flagged, and, in the same run, this GPU's peaks for the units the
// candidates use: fp64 FMA on the CUDA cores, fp64 tensor-core MMA (sm_80+), int8 tensor-core MMA
// and uint64 multiply-add. The peaks say how far each candidate is from its ceiling
// (int8: 36 u8 MACs per ring MAC; fp64: 10 fp64 FMAs) and whether the 'auto' policy
// (matmul.cu) picks the right one on this GPU. Timed with CUDA events; no cuBLAS.
#include <mma.h>

#include <cstdio>
#include <vector>

#include "cuda/device.h"
#include "cuda/matmul.h"
#include "cuda/test/gpu_timing.h"
#include "cuda/test/harness.h"

namespace tfe {
namespace cudatest {
namespace {

using cuda::GemmImpl;

__global__ void fillRandomKernel(uint64_t* p, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    uint64_t z = seed + uint64_t(i) * 0x9E3779B97F4A7C15ull;  // splitmix64 of the index
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    p[i] = z ^ (z >> 31);
  }
}

__global__ void countMismatchKernel(const uint64_t* a, const uint64_t* b, int64_t n, unsigned long long* count) {
  unsigned long long c = 0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) c += a[i] != b[i];
  if (c) atomicAdd(count, c);
}

// Peak loops: each thread runs 8 independent chains so the pipes stay full; the result is stored
// only under a condition the compiler cannot prove false, so the loop is not optimised away.
constexpr int kChains = 8;

__global__ void fp64FmaLoop(int iters, double seed, double* sink) {
  double x[kChains];
  for (int c = 0; c < kChains; ++c) x[c] = seed + c + threadIdx.x;
  for (int i = 0; i < iters; ++i)
#pragma unroll
    for (int c = 0; c < kChains; ++c) x[c] = fma(x[c], 0.999999, 1e-7);
  double s = 0;
  for (int c = 0; c < kChains; ++c) s += x[c];
  if (s == 1234.5) *sink = s;
}

__global__ void u64MacLoop(int iters, uint64_t seed, uint64_t* sink) {
  uint64_t x[kChains];
  for (int c = 0; c < kChains; ++c) x[c] = seed + c + threadIdx.x;
  const uint64_t mul = seed | 1;
  for (int i = 0; i < iters; ++i)
#pragma unroll
    for (int c = 0; c < kChains; ++c) x[c] = x[c] * mul + seed;
  uint64_t s = 0;
  for (int c = 0; c < kChains; ++c) s ^= x[c];
  if (s == 12345) *sink = s;
}

__global__ void dmmaLoop(int iters, double seed, double* sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  double d[kChains][2];
  for (int c = 0; c < kChains; ++c) d[c][0] = d[c][1] = 0;
  double a = seed + threadIdx.x, b = seed - threadIdx.x;
  for (int i = 0; i < iters; ++i)
#pragma unroll
    for (int c = 0; c < kChains; ++c)
      asm volatile("mma.sync.aligned.m8n8k4.row.col.f64.f64.f64.f64 {%0,%1}, {%2}, {%3}, {%0,%1};"
                   : "+d"(d[c][0]), "+d"(d[c][1]) : "d"(a), "d"(b));
  double s = 0;
  for (int c = 0; c < kChains; ++c) s += d[c][0] + d[c][1];
  if (s == 1234.5) *sink = s;
#endif
}

__global__ void immaLoop(int iters, int seed, int* sink) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
  using namespace nvcuda;
  __shared__ __align__(32) unsigned char tile[256];
  for (int i = threadIdx.x; i < 256; i += blockDim.x) tile[i] = static_cast<unsigned char>(seed + i);
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, unsigned char, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, unsigned char, wmma::col_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, int> acc[kChains];
  wmma::load_matrix_sync(fa, tile, 16);
  wmma::load_matrix_sync(fb, tile, 16);
  for (int c = 0; c < kChains; ++c) wmma::fill_fragment(acc[c], 0);
  for (int i = 0; i < iters; ++i)
#pragma unroll
    for (int c = 0; c < kChains; ++c) wmma::mma_sync(acc[c], fa, fb, acc[c]);
  int s = 0;
  for (int c = 0; c < kChains; ++c)
    for (int e = 0; e < acc[c].num_elements; ++e) s ^= acc[c].x[e];
  if (s == 12345) *sink = s;
#endif
}

// Operations per second (in units of 1e12) of a peak loop: `perIter` operations per warp per
// iteration (or per thread when perThread).
template <typename Launch>
double peak(Launch launch, double opsPerIterPerWarp) {
  const cuda::DeviceStatus& st = cuda::deviceStatus();
  const int blocks = st.multiprocessors * 8, threads = 256, iters = 4096;
  double ms = timeMs([&] { launch(blocks, threads, iters); TFE_CUDA_LAUNCHED(); }, 3);
  double warps = double(blocks) * threads / 32;
  return warps * iters * opsPerIterPerWarp / (ms * 1e-3) / 1e12;
}

}  // namespace

TFE_CUDA_BENCH(gemm_ring_4096) {
  cuda::StreamScope scope(0);
  cudaStream_t s = cuda::currentStream();
  const cuda::DeviceStatus& st = cuda::deviceStatus();
  const int64_t N = 4096;
  const double macs = double(N) * N * N;
  Tensor a = cuda::allocDevice({N, N}, DType::Ring64), b = cuda::allocDevice({N, N}, DType::Ring64);
  Tensor ref = cuda::allocDevice({N, N}, DType::Ring64), c = cuda::allocDevice({N, N}, DType::Ring64);
  Tensor count = cuda::allocDevice({1}, DType::Ring64);
  fillRandomKernel<<<cuda::gridFor(N * N), 256, 0, s>>>(cuda::devPtr<uint64_t>(a), N * N, 1);
  fillRandomKernel<<<cuda::gridFor(N * N), 256, 0, s>>>(cuda::devPtr<uint64_t>(b), N * N, 2);
  TFE_CUDA_LAUNCHED();

  auto args = [&](const Tensor& out) {
    return cuda::GemmArgs{cuda::devPtr<uint64_t>(a), cuda::devPtr<uint64_t>(b), cuda::devPtr<uint64_t>(out), N, N, N, 1, 0, 0};
  };
  const GemmImpl impls[] = {GemmImpl::Uint64, GemmImpl::Fp64, GemmImpl::Int8};
  double rate[3];
  bool correct[3];
  bool ok = true;
  for (int i = 0; i < 3; ++i) {
    const Tensor& out = i == 0 ? ref : c;
    double ms = timeMs([&] { cuda::ringGemm("bench", args(out), impls[i]); }, 3);
    rate[i] = macs / (ms * 1e-3) / 1e12;
    correct[i] = true;
    if (i > 0) {
      TFE_CUDA_CHECK(cudaMemsetAsync(cuda::devPtr<uint64_t>(count), 0, 8, s));
      countMismatchKernel<<<cuda::gridFor(N * N), 256, 0, s>>>(cuda::devPtr<uint64_t>(out), cuda::devPtr<uint64_t>(ref), N * N,
                                                              cuda::devPtr<unsigned long long>(count));
      TFE_CUDA_LAUNCHED();
      uint64_t bad = 0;
      cuda::download(count, &bad, 8, 0);
      correct[i] = bad == 0;
      if (!correct[i]) std::printf("  %s: %llu of %lld elements differ from uint64\n", cuda::gemmImplName(impls[i]),
                                   (unsigned long long)bad, (long long)(N * N));
      ok &= correct[i];
    }
  }

  Tensor sink = cuda::allocDevice({64}, DType::Ring64);
  double* sd = cuda::devPtr<double>(sink);
  double fp64Fma = peak([&](int bl, int th, int it) { fp64FmaLoop<<<bl, th, 0, s>>>(it, 0.5, sd); }, 32.0 * kChains * 2) ;
  double u64Mac = peak([&](int bl, int th, int it) { u64MacLoop<<<bl, th, 0, s>>>(it, 7, cuda::devPtr<uint64_t>(sink)); }, 32.0 * kChains);
  double dmma = 0, imma = 0;
  if (st.computeMajor >= 8) dmma = peak([&](int bl, int th, int it) { dmmaLoop<<<bl, th, 0, s>>>(it, 0.5, sd); }, 8.0 * 8 * 4 * 2 * kChains);
  if (st.computeMajor * 10 + st.computeMinor >= 75)
    imma = peak([&](int bl, int th, int it) { immaLoop<<<bl, th, 0, s>>>(it, 3, cuda::devPtr<int>(sink)); }, 16.0 * 16 * 16 * 2 * kChains);

  // Ceilings of each candidate from the measured unit peaks (TFLOPS / TOPS count 2 per MAC).
  double ceiling[3] = {u64Mac, (dmma > 0 ? dmma : fp64Fma) / 2 / 10, imma / 2 / 36};
  std::printf("ring GEMM %lldx%lldx%lld mod 2^64 on %s (sm_%d%d)\n", (long long)N, (long long)N, (long long)N, st.name.c_str(),
              st.computeMajor, st.computeMinor);
  std::printf("  %-8s %10s %10s %8s  %s\n", "impl", "T-MAC/s", "ceiling", "of ceil", "check");
  for (int i = 0; i < 3; ++i)
    std::printf("  %-8s %10.3f %10.3f %7.0f%%  %s\n", cuda::gemmImplName(impls[i]), rate[i], ceiling[i],
                ceiling[i] > 0 ? 100 * rate[i] / ceiling[i] : 0.0, i == 0 ? "reference" : correct[i] ? "ok" : "WRONG");
  std::printf("  auto picks %s at this shape\n", cuda::gemmImplName(cuda::chooseGemmImpl(N, N, N, 1)));
  std::printf("  peaks: fp64 FMA %.1f TFLOPS, fp64 MMA %.1f TFLOPS, int8 MMA %.0f TOPS, uint64 MAC %.2f T-MAC/s\n", fp64Fma,
              dmma, imma, u64Mac);
  std::printf("  (ceiling: uint64 = the uint64 MAC peak; fp64 = fp64 peak / 10 FMAs; int8 = int8 peak / 36 MACs)\n");
  return ok;
}

}  // namespace cudatest
}  // namespace tfe
