// An 8 x 8 transpose of 64-bit words held in eight zmm registers, for the kernels that compute
// their output transposed (matmul_narrow_avx512.cc, conv_direct_avx512.cc). Include only inside an
// AVX-512 target region: it is compiled for the including file's target.
#pragma once
#include <immintrin.h>

namespace tfe {

// r[j] holds row j of an 8 x 8 block; afterwards r[p] holds row p of its transpose.
inline void transpose8x8(__m512i (&r)[8]) {
  __m512i t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm512_unpacklo_epi64(r[2 * i], r[2 * i + 1]);  // elements 0, 2, 4, 6 of rows 2i, 2i+1
    t[2 * i + 1] = _mm512_unpackhi_epi64(r[2 * i], r[2 * i + 1]);  // elements 1, 3, 5, 7
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
    const int o = 4 * h;
    u[o + 0] = _mm512_shuffle_i64x2(t[o + 0], t[o + 2], 0x88);  // elements 0 and 4
    u[o + 1] = _mm512_shuffle_i64x2(t[o + 0], t[o + 2], 0xDD);  // 2 and 6
    u[o + 2] = _mm512_shuffle_i64x2(t[o + 1], t[o + 3], 0x88);  // 1 and 5
    u[o + 3] = _mm512_shuffle_i64x2(t[o + 1], t[o + 3], 0xDD);  // 3 and 7
  }
  constexpr int from[4] = {0, 2, 1, 3};  // u[from[e]] holds elements e and e + 4
  for (int e = 0; e < 4; ++e) {
    r[e] = _mm512_shuffle_i64x2(u[from[e]], u[4 + from[e]], 0x88);
    r[e + 4] = _mm512_shuffle_i64x2(u[from[e]], u[4 + from[e]], 0xDD);
  }
}

}  // namespace tfe
