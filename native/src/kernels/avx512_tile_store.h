// The AVX-512 micro-kernels' last step (matmul_avx512.cc, matmul_ifma.cc): a tile of MR x V
// vectors of 8 columns into C, added to C's values when accumulating. Partial = true stores only
// the top-left h x w corner, with masked loads and stores (edge tiles). Include only inside an
// AVX-512 target region: it is compiled for the including file's target.
#pragma once
#include <immintrin.h>

#include <cstdint>

namespace tfe {

template <bool Partial, int MR, int V>
inline void storeTile(const __m512i (&c)[MR][V], uint64_t* C, int64_t ldc, bool accumulate, int64_t h, int64_t w) {
  for (int i = 0; i < MR; ++i) {
    if (Partial && i >= h) break;
    for (int v = 0; v < V; ++v) {
      uint64_t* r = C + i * ldc + 8 * v;
      if (Partial) {
        int64_t left = w - 8 * v;
        if (left <= 0) break;
        __mmask8 mask = left >= 8 ? __mmask8(0xFF) : __mmask8((1u << left) - 1);
        __m512i x = accumulate ? _mm512_add_epi64(c[i][v], _mm512_maskz_loadu_epi64(mask, r)) : c[i][v];
        _mm512_mask_storeu_epi64(r, mask, x);
      } else {
        _mm512_storeu_si512(r, accumulate ? _mm512_add_epi64(c[i][v], _mm512_loadu_si512(r)) : c[i][v]);
      }
    }
  }
}

}  // namespace tfe
