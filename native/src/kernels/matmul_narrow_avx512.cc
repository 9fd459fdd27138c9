// Narrow products on AVX-512 (n <= kNarrowMaxN = 12 columns: a classifier's 10 outputs, a
// regression's one): C is computed transposed. The blocked driver's 8 x 24 tiles put C's columns
// in vector lanes, so 10 columns fill 16 lanes (62%), and a tile narrower than 8 keeps only 8
// accumulators, too few to hide vpmullq's latency. Here the lanes hold 8 rows of C
// (8 rows of A, one packed strip) and each column of C is a register: every lane is useful for
// any n, with n x R accumulators (R strips at once, n R <= 24 where n allows). Each k step
// multiplies the strips' vectors by B's n values at that k (broadcast from memory, fused into
// vpmullq), and the tile leaves through an 8 x 8 transpose per 8 columns.
#include <immintrin.h>

#include <algorithm>
#include <utility>

#include "kernels/matmul.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq")
// GCC 12 flags the unpack and shuffle intrinsics' own unmasked form (their pass-through operand is
// _mm512_undefined_epi32, a self-initialised variable) once they are inlined here: not our code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "kernels/avx512_transpose.h"

namespace tfe {
namespace {

// Strips to keep in flight for N columns: as many accumulators as the 32 zmm registers hold
// beside the strips' vectors and a broadcast (N R + R + 1 <= 32), at most 24, so that narrow
// tiles too have enough independent sums to hide vpmullq's latency (about 15 cycles on Intel).
constexpr int stripsFor(int N) { return std::max(1, std::min({8, 24 / N, 31 / (N + 1)})); }

// C[rows x N] = A * B for the R packed strips at Ap (8 k words each, Ap[s][kk * 8 + i]), where B
// is k x N row-major (ldb = N) and C's rows are ldc = N apart. Only the first `h` rows are stored.
template <int N>
void narrowTile(int64_t k, const uint64_t* Ap, int strips, const uint64_t* B, uint64_t* C, int64_t h) {
  constexpr int R = stripsFor(N);
  constexpr int Blocks = (N + 7) / 8;
  __m512i acc[Blocks * 8][R];
  for (int j = 0; j < Blocks * 8; ++j)
    for (int s = 0; s < R; ++s) acc[j][s] = _mm512_setzero_si512();
  const int64_t stripWords = 8 * k;
  if (strips == R) {
    const uint64_t* b = B;
    for (int64_t kk = 0; kk < k; ++kk, b += N) {
      __m512i a[R];
      for (int s = 0; s < R; ++s) a[s] = _mm512_load_si512(Ap + s * stripWords + kk * 8);
#pragma GCC unroll 12
      for (int j = 0; j < N; ++j) {
        const __m512i bj = _mm512_set1_epi64(static_cast<long long>(b[j]));
#pragma GCC unroll 4
        for (int s = 0; s < R; ++s) acc[j][s] = _mm512_add_epi64(acc[j][s], _mm512_mullo_epi64(a[s], bj));
      }
    }
  } else {  // the last tile of the product: fewer strips than R
    for (int s = 0; s < strips; ++s) {
      const uint64_t* b = B;
      for (int64_t kk = 0; kk < k; ++kk, b += N) {
        const __m512i a = _mm512_load_si512(Ap + s * stripWords + kk * 8);
#pragma GCC unroll 12
        for (int j = 0; j < N; ++j)
          acc[j][s] = _mm512_add_epi64(acc[j][s], _mm512_mullo_epi64(a, _mm512_set1_epi64(static_cast<long long>(b[j]))));
      }
    }
  }
  for (int s = 0; s < strips; ++s) {
    const int64_t rows = std::min<int64_t>(8, h - 8 * s);
    for (int blk = 0; blk < Blocks; ++blk) {
      __m512i r[8];
      for (int j = 0; j < 8; ++j) r[j] = acc[8 * blk + j][s];
      transpose8x8(r);
      const int cols = std::min(8, N - 8 * blk);
      const __mmask8 mask = cols == 8 ? __mmask8(0xFF) : __mmask8((1u << cols) - 1);
      for (int p = 0; p < rows; ++p) _mm512_mask_storeu_epi64(C + (8 * s + p) * N + 8 * blk, mask, r[p]);
    }
  }
}

template <int... Ns>
constexpr NarrowTileFn narrowTable(int n, std::integer_sequence<int, Ns...>) {
  constexpr NarrowTileFn table[] = {narrowTile<Ns + 1>...};
  return table[n - 1];
}

}  // namespace

// The accessors are compiled for the baseline ISA: they may be called before the CPU check.
#pragma GCC pop_options

NarrowTileFn narrowTileAvx512(int64_t n) {
  if (n < 1 || n > kNarrowMaxN) return nullptr;
  return narrowTable(static_cast<int>(n), std::make_integer_sequence<int, kNarrowMaxN>{});
}

int narrowStripsAvx512(int64_t n) {
  return n >= 1 && n <= kNarrowMaxN ? stripsFor(static_cast<int>(n)) : 0;
}

}  // namespace tfe
#else
namespace tfe {
NarrowTileFn narrowTileAvx512(int64_t) { return nullptr; }
int narrowStripsAvx512(int64_t) { return 0; }
}  // namespace tfe
#endif
