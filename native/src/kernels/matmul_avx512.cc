// AVX-512 micro-kernel: vpmullq (AVX-512DQ) gives the low 64 bits of a 64x64 product, which is
// exactly multiplication in Z_2^64. Only this file's functions are compiled for AVX-512, and they
// are called only after a CPUID check, so one binary runs on any x86-64.
#include <immintrin.h>

#include <algorithm>

#include "kernels/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TFE_HAVE_AVX512_KERNEL 1
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq")

#include "kernels/avx512_tile_store.h"

namespace tfe {
namespace {

// 8 rows x 24 columns: 24 accumulators + 3 B vectors + 1 broadcast fit in the 32 zmm registers.
constexpr int MR = 8, NR = 24;

constexpr int NV = NR / 8;

// Partial = true stores only the top-left h x w corner (edge tiles, and n < NR as in small
// convolutions), with masked stores instead of a round trip through a scratch tile. V: the vectors
// of 8 columns computed, ceil(w / 8): a last panel 2 columns wide (50 filters = 24 + 24 + 2) costs
// one vector of products per row, not three.
template <bool Partial, int V = NV>
inline void tileImpl(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate,
                     int64_t h, int64_t w) {
  __m512i c[MR][V];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < V; ++v) c[i][v] = _mm512_setzero_si512();
  for (int64_t k = 0; k < kc; ++k, A += MR, B += NR) {
    __m512i b[V];
    for (int v = 0; v < V; ++v) b[v] = _mm512_load_si512(B + 8 * v);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      __m512i a = _mm512_set1_epi64(static_cast<long long>(A[i]));
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) c[i][v] = _mm512_add_epi64(c[i][v], _mm512_mullo_epi64(a, b[v]));
    }
  }
  storeTile<Partial>(c, C, ldc, accumulate, h, w);
}

void tile(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate) {
  tileImpl<false>(kc, A, B, C, ldc, accumulate, MR, NR);
}

void tilePartial(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate, int64_t h,
                 int64_t w) {
  static_assert(NV == 3, "tilePartial dispatches on 1, 2 or 3 vectors");
  if (w <= 8) return tileImpl<true, 1>(kc, A, B, C, ldc, accumulate, h, w);
  if (w <= 16) return tileImpl<true, 2>(kc, A, B, C, ldc, accumulate, h, w);
  tileImpl<true, 3>(kc, A, B, C, ldc, accumulate, h, w);
}

// Small m (the batch-1 shapes): R rows of C over V vectors of 8 columns, accumulated in registers
// across all of k, so each row of B is read once per column block for all R rows together. (The
// previous loop kept C in memory and read B once per row: a load, a store and a dependency
// through memory per vector per k, about 4x slower at 1x784x128.) Masked = true: one vector of
// `w` < 8 columns, the right edge.
template <int R, int V, bool Masked>
inline void rowBlock(int64_t k, int64_t n, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t j, int64_t w) {
  const __mmask8 mask = Masked ? __mmask8((1u << w) - 1) : __mmask8(0xFF);
  __m512i c[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) c[r][v] = _mm512_setzero_si512();
  const uint64_t* b = B + j;
  for (int64_t p = 0; p < k; ++p, b += n) {
    __m512i a[R];
    for (int r = 0; r < R; ++r) a[r] = _mm512_set1_epi64(static_cast<long long>(A[r * k + p]));
#pragma GCC unroll 16
    for (int v = 0; v < V; ++v) {
      const __m512i x = Masked ? _mm512_maskz_loadu_epi64(mask, b + 8 * v) : _mm512_loadu_si512(b + 8 * v);
#pragma GCC unroll 4
      for (int r = 0; r < R; ++r) c[r][v] = _mm512_add_epi64(c[r][v], _mm512_mullo_epi64(a[r], x));
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      if (Masked)
        _mm512_mask_storeu_epi64(C + r * n + j + 8 * v, mask, c[r][v]);
      else
        _mm512_storeu_si512(C + r * n + j + 8 * v, c[r][v]);
    }
}

// Columns [j0, j1) of R rows: blocks of V vectors (R * V <= 24 accumulators), then what is left
// in blocks of halving width (each pass over B's rows as wide as it can be), then the masked edge.
template <int R, int V>
void rowsOf(int64_t k, int64_t n, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t j0, int64_t j1) {
  int64_t j = j0;
  for (; j + 8 * V <= j1; j += 8 * V) rowBlock<R, V, false>(k, n, A, B, C, j, 8);
  if constexpr (V > 1) {
    rowsOf<R, V / 2>(k, n, A, B, C, j, j1);
  } else if (j < j1) {
    rowBlock<R, 1, true>(k, n, A, B, C, j, j1 - j);
  }
}

void rows(int64_t m, int64_t k, int64_t n, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t j0, int64_t j1) {
  for (int64_t i = 0; i < m; i += 4) {
    const uint64_t* a = A + i * k;
    uint64_t* c = C + i * n;
    switch (std::min<int64_t>(4, m - i)) {
      case 1: rowsOf<1, 16>(k, n, a, B, c, j0, j1); break;
      case 2: rowsOf<2, 8>(k, n, a, B, c, j0, j1); break;
      case 3: rowsOf<3, 8>(k, n, a, B, c, j0, j1); break;
      default: rowsOf<4, 4>(k, n, a, B, c, j0, j1); break;
    }
  }
}

}  // namespace

// The accessor is compiled for the baseline ISA: it may be called before the CPU check.
#pragma GCC pop_options

const MicroKernel& microKernelAvx512() {
  static const MicroKernel mk = [] {
    MicroKernel k{"avx512", MR, NR, tile, rows, tilePartial};
    k.narrow = narrowTileAvx512;
    k.narrowStrips = narrowStripsAvx512;
    return k;
  }();
  return mk;
}

}  // namespace tfe
#else
namespace tfe {
const MicroKernel& microKernelAvx512() { return microKernelGeneric(); }
}  // namespace tfe
#endif
