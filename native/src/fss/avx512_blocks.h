// Helpers shared by the AVX-512 DCF walks (dcf_eval_avx512.cc, dcf_keygen_avx512.cc,
// dcf_bit_avx512.cc): moving blocks between the hash's array layout and word vectors, gathering
// key words, streaming key rows. Include it inside namespace tfe::fss, after a
// `#pragma GCC target("avx512f")` (so the helpers compile for AVX-512F, in files reached only when
// the CPU has it) and after <immintrin.h> and fss/fixed_key_aes.h; it opens an anonymous namespace.
#pragma once

namespace {

constexpr int kLanes = 8;

// Blocks [0, 8) of `b` (16 words, lo and hi interleaved) as their lo and hi words.
inline void splitBlocks(const Block* b, __m512i& lo, __m512i& hi) {
  const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0), odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
  const __m512i p = _mm512_loadu_si512(b), q = _mm512_loadu_si512(b + 4);
  lo = _mm512_permutex2var_epi64(p, even, q);
  hi = _mm512_permutex2var_epi64(p, odd, q);
}

inline void joinBlocks(Block* b, __m512i lo, __m512i hi) {
  const __m512i first = _mm512_set_epi64(11, 3, 10, 2, 9, 1, 8, 0), second = _mm512_set_epi64(15, 7, 14, 6, 13, 5, 12, 4);
  _mm512_storeu_si512(b, _mm512_permutex2var_epi64(lo, first, hi));
  _mm512_storeu_si512(b + 4, _mm512_permutex2var_epi64(lo, second, hi));
}

// The masked forms throughout: GCC 12's unmasked ones read an "undefined" register and warn.
inline __m512i gather(const uint64_t* keys, __m512i row, int64_t word) {
  return _mm512_mask_i64gather_epi64(_mm512_setzero_si512(), 0xFF, _mm512_add_epi64(row, _mm512_set1_epi64(word)), reinterpret_cast<const long long*>(keys), 8);
}

// Both parties' blocks of eight elements (blocks 2e + party, as the walk lays them out) as four
// word vectors: party 0's lo and hi words, party 1's lo and hi words.
struct Pair {
  __m512i lo0, hi0, lo1, hi1;
};

inline Pair split(const Block* b) {
  // Words of element j: 4j + (0: p0.lo, 1: p0.hi, 2: p1.lo, 3: p1.hi).
  const __m512i q01 = _mm512_set_epi64(13, 9, 5, 1, 12, 8, 4, 0), q23 = _mm512_set_epi64(15, 11, 7, 3, 14, 10, 6, 2);
  const __m512i z0 = _mm512_loadu_si512(b), z1 = _mm512_loadu_si512(b + 4), z2 = _mm512_loadu_si512(b + 8), z3 = _mm512_loadu_si512(b + 12);
  const __m512i a = _mm512_permutex2var_epi64(z0, q01, z1), c = _mm512_permutex2var_epi64(z2, q01, z3);  // p0.lo x4, p0.hi x4
  const __m512i bb = _mm512_permutex2var_epi64(z0, q23, z1), d = _mm512_permutex2var_epi64(z2, q23, z3);  // p1.lo x4, p1.hi x4
  return Pair{_mm512_maskz_shuffle_i64x2(0xFF, a, c, 0x44), _mm512_maskz_shuffle_i64x2(0xFF, a, c, 0xEE), _mm512_maskz_shuffle_i64x2(0xFF, bb, d, 0x44), _mm512_maskz_shuffle_i64x2(0xFF, bb, d, 0xEE)};
}

inline void join(Block* b, __m512i lo0, __m512i hi0, __m512i lo1, __m512i hi1) {
  // Inverse of split: elements 0..3 from the low halves, 4..7 from the high halves.
  const __m512i a = _mm512_maskz_shuffle_i64x2(0xFF, lo0, hi0, 0x44), c = _mm512_maskz_shuffle_i64x2(0xFF, lo0, hi0, 0xEE);  // p0 lo x4 | hi x4
  const __m512i bb = _mm512_maskz_shuffle_i64x2(0xFF, lo1, hi1, 0x44), d = _mm512_maskz_shuffle_i64x2(0xFF, lo1, hi1, 0xEE);
  const __m512i first = _mm512_set_epi64(13, 9, 5, 1, 12, 8, 4, 0), second = _mm512_set_epi64(15, 11, 7, 3, 14, 10, 6, 2);
  _mm512_storeu_si512(b, _mm512_permutex2var_epi64(a, first, bb));
  _mm512_storeu_si512(b + 4, _mm512_permutex2var_epi64(a, second, bb));
  _mm512_storeu_si512(b + 8, _mm512_permutex2var_epi64(c, first, d));
  _mm512_storeu_si512(b + 12, _mm512_permutex2var_epi64(c, second, d));
}

// dst[0, words) = src[0, words): non-temporal 64-byte stores where dst is aligned to 64 bytes
// (the rows of a key tensor are 8-byte aligned), plain ones at the ends.
inline void streamRow(uint64_t* dst, const uint64_t* src, int64_t words) {
  int64_t i = 0;
  for (; i < words && (reinterpret_cast<uintptr_t>(dst + i) & 63) != 0; ++i) dst[i] = src[i];
  for (; i + 8 <= words; i += 8) _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_loadu_si512(src + i));
  for (; i < words; ++i) dst[i] = src[i];
}

}  // namespace
