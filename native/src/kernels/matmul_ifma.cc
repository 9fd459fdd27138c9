// AVX-512 IFMA micro-kernel: products in Z_2^64 from 52-bit multiply-adds, three per 8 products
// where vpmullq plus its add are four micro-ops on Intel (vpmullq is three there). IFMA runs on
// the double-precision FMA units, two on an Intel server core, so this can beat vpmullq there;
// on AMD Zen 4 it is about 5x slower than vpmullq. 'auto' measures both and keeps the faster
// (matmul.cc), so neither is assumed.
//
// Why three suffice. Write a = a0 + a1 2^52 (a0 below 2^52, a1 below 2^12), likewise b. Then
//   a b mod 2^64 = a0 b0 + (a0 b1 + a1 b0) 2^52 mod 2^64,
// and of the bracket only its low 12 bits matter. a0 b0 is vpmadd52luq (its low 52 bits) plus
// vpmadd52huq (its high 52) times 2^52. For the bracket take x = (a0 mod 2^12) + a1 2^36 and
// y = (b0 mod 2^12) + b1 2^36 (both below 2^48): x y = a0' b0' + (a0' b1 + a1 b0') 2^36 + a1 b1 2^72,
// where a0' b0' < 2^24, so bits 36..47 of x y are the bracket mod 2^12, and vpmadd52luq keeps
// bits 0..51. Summed over k the a0' b0' parts stay below 2^36 while k <= 2^12 (kChunk), so bits
// 36..47 of the sum are the sum of the brackets mod 2^12. Per 8 columns and k:
//   lo += lo52(a0 b0), hi += hi52(a0 b0), cross += lo52(x y);
//   c = lo + (hi << 52) + ((cross >> 36) << 52)        (mod 2^64).
// The kernel reads A and B expanded to two words per element (expand below): a0 and x per k.
#include <immintrin.h>

#include <algorithm>

#include "kernels/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512ifma")

#include "kernels/avx512_tile_store.h"

namespace tfe {
namespace {

// 4 rows x 16 columns: 24 accumulators (3 per row and vector) + 4 B vectors; A's words are
// broadcast from memory into the multiply-adds.
constexpr int MR = 4, NR = 16, NV = NR / 8;
constexpr int64_t kChunk = 4096;  // the cross sums' low parts stay below 2^36 (see above)
constexpr uint64_t kLow52 = (uint64_t(1) << 52) - 1;

/** v's two words: its low 52 bits, and (its low 12 bits) + (its top 12 bits) 2^36. */
inline uint64_t crossWord(uint64_t v) { return (v & 0xFFF) | ((v >> 52) << 36); }

// Packed rows of `width` words per k -> 2 x width words per k: the low-52 row, then the cross row.
void expand(int64_t kc, int width, const uint64_t* in, uint64_t* out) {
  for (int64_t k = 0; k < kc; ++k, in += width, out += 2 * width)
    for (int j = 0; j < width; ++j) {
      out[j] = in[j] & kLow52;
      out[width + j] = crossWord(in[j]);
    }
}

// (GCC's vector shifts: its _mm512_s?li_epi64 draw a false "uninitialized" warning at -O2.)
typedef uint64_t U64x8 __attribute__((vector_size(64)));
inline __m512i combine(__m512i lo, __m512i hi, __m512i cross) {
  const U64x8 top = ((U64x8)hi + ((U64x8)cross >> 36)) << 52;
  return _mm512_add_epi64(lo, (__m512i)top);
}

template <bool Partial, int V = NV>
inline void tileImpl(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate, int64_t h,
                     int64_t w) {
  __m512i sum[MR][V];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < V; ++v) sum[i][v] = _mm512_setzero_si512();
  for (int64_t k0 = 0; k0 < kc; k0 += kChunk) {
    __m512i lo[MR][V], hi[MR][V], cr[MR][V];
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < V; ++v) lo[i][v] = hi[i][v] = cr[i][v] = _mm512_setzero_si512();
    for (int64_t k = k0, k1 = std::min(kc, k0 + kChunk); k < k1; ++k) {
      const uint64_t* a = A + 2 * MR * k;
      const uint64_t* b = B + 2 * NR * k;
      __m512i b0[V], by[V];
      for (int v = 0; v < V; ++v) {
        b0[v] = _mm512_load_si512(b + 8 * v);
        by[v] = _mm512_load_si512(b + NR + 8 * v);
      }
#pragma GCC unroll 4
      for (int i = 0; i < MR; ++i) {
        const __m512i a0 = _mm512_set1_epi64(static_cast<long long>(a[i]));
        const __m512i ax = _mm512_set1_epi64(static_cast<long long>(a[MR + i]));
        for (int v = 0; v < V; ++v) {
          lo[i][v] = _mm512_madd52lo_epu64(lo[i][v], a0, b0[v]);
          hi[i][v] = _mm512_madd52hi_epu64(hi[i][v], a0, b0[v]);
          cr[i][v] = _mm512_madd52lo_epu64(cr[i][v], ax, by[v]);
        }
      }
    }
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < V; ++v) sum[i][v] = _mm512_add_epi64(sum[i][v], combine(lo[i][v], hi[i][v], cr[i][v]));
  }
  storeTile<Partial>(sum, C, ldc, accumulate, h, w);
}

void tile(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate) {
  tileImpl<false>(kc, A, B, C, ldc, accumulate, MR, NR);
}

void tilePartial(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate, int64_t h,
                 int64_t w) {
  static_assert(NV == 2, "tilePartial dispatches on 1 or 2 vectors");
  if (w <= 8) return tileImpl<true, 1>(kc, A, B, C, ldc, accumulate, h, w);
  tileImpl<true, 2>(kc, A, B, C, ldc, accumulate, h, w);
}

}  // namespace

// The accessor is compiled for the baseline ISA: it may be called before the CPU check.
#pragma GCC pop_options

const MicroKernel& microKernelIfma() {
  // Small m (the batch-1 shapes) reads B unpacked: vpmullq's row kernel serves it.
  static const MicroKernel mk{"ifma", MR, NR, tile, microKernelAvx512().rows, tilePartial, 2, expand};
  return mk;
}

}  // namespace tfe
#else
namespace tfe {
const MicroKernel& microKernelIfma() { return microKernelGeneric(); }
}  // namespace tfe
#endif
