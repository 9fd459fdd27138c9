// AVX2 micro-kernel. AVX2 has no 64-bit multiply, so the low 64 bits of a*b are built from
// 32-bit halves: lo(a)*lo(b) + ((hi(a)*lo(b) + lo(a)*hi(b)) << 32), which is exact mod 2^64.
#include <immintrin.h>

#include "kernels/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx2")

namespace tfe {
namespace {

constexpr int MR = 4, NR = 8;

inline __m256i mul64(__m256i a, __m256i ah, __m256i b, __m256i bh) {
  __m256i lo = _mm256_mul_epu32(a, b);
  __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(ah, b), _mm256_mul_epu32(a, bh));
  return _mm256_add_epi64(lo, _mm256_slli_epi64(cross, 32));
}

void tile(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate) {
  __m256i c[MR][2];
  for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm256_setzero_si256();
  for (int64_t k = 0; k < kc; ++k, A += MR, B += NR) {
    __m256i b0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(B));
    __m256i b1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(B + 4));
    __m256i b0h = _mm256_srli_epi64(b0, 32), b1h = _mm256_srli_epi64(b1, 32);
#pragma GCC unroll 4
    for (int i = 0; i < MR; ++i) {
      __m256i a = _mm256_set1_epi64x(static_cast<long long>(A[i]));
      __m256i ah = _mm256_srli_epi64(a, 32);
      c[i][0] = _mm256_add_epi64(c[i][0], mul64(a, ah, b0, b0h));
      c[i][1] = _mm256_add_epi64(c[i][1], mul64(a, ah, b1, b1h));
    }
  }
  for (int i = 0; i < MR; ++i) {
    uint64_t* r = C + i * ldc;
    for (int v = 0; v < 2; ++v) {
      __m256i* dst = reinterpret_cast<__m256i*>(r + 4 * v);
      __m256i x = c[i][v];
      if (accumulate) x = _mm256_add_epi64(x, _mm256_loadu_si256(dst));
      _mm256_storeu_si256(dst, x);
    }
  }
}

void rows(int64_t m, int64_t k, int64_t n, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t j0, int64_t j1) {
  for (int64_t i = 0; i < m; ++i) {
    uint64_t* c = C + i * n;
    for (int64_t j = j0; j < j1; ++j) c[j] = 0;
    for (int64_t p = 0; p < k; ++p) {
      uint64_t av = A[i * k + p];
      __m256i a = _mm256_set1_epi64x(static_cast<long long>(av)), ah = _mm256_srli_epi64(a, 32);
      const uint64_t* b = B + p * n;
      int64_t j = j0;
      for (; j + 4 <= j1; j += 4) {
        __m256i bv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + j));
        __m256i* dst = reinterpret_cast<__m256i*>(c + j);
        _mm256_storeu_si256(dst, _mm256_add_epi64(_mm256_loadu_si256(dst), mul64(a, ah, bv, _mm256_srli_epi64(bv, 32))));
      }
      for (; j < j1; ++j) c[j] += av * b[j];
    }
  }
}

}  // namespace

// The accessor is compiled for the baseline ISA: it may be called before the CPU check.
#pragma GCC pop_options

const MicroKernel& microKernelAvx2() {
  static const MicroKernel mk{"avx2", MR, NR, tile, rows};
  return mk;
}

}  // namespace tfe
#else
namespace tfe {
const MicroKernel& microKernelAvx2() { return microKernelGeneric(); }
}  // namespace tfe
#endif
