// Helpers shared by the AVX-512 DCF walks (dcf_eval_avx512.cc, dcf_keygen_avx512.cc,
// dcf_bit_avx512.cc): moving blocks between the hash's array layout and word vectors, gathering
// key words, streaming key rows, and the seed part of a keygen level. Include it inside namespace tfe::fss, after a
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

// One 64-byte line of a key tile (dcf.h "Tiles"): a non-temporal store where dst is aligned (it
// is for tensors this process allocated), a plain one otherwise.
inline void putLine(uint64_t* dst, __m512i v) {
  if ((reinterpret_cast<uintptr_t>(dst) & 63) == 0) _mm512_stream_si512(reinterpret_cast<__m512i*>(dst), v);
  else _mm512_storeu_si512(dst, v);
}

// Prefetches words [w, w + count) of the kGroups tiles starting at tile[g] (K words per element,
// so batchWords = batch * K words from a batch's first tile to the next batch's): words past a
// tile's end K are the next batch's first ones, fetched only when there is a next batch.
template <int kGroups>
inline void prefetchTileWords(const uint64_t* const* tile, int64_t K, int64_t batchWords, bool hasNext, int64_t w, int count) {
  for (int g = 0; g < kGroups; ++g)
    for (int64_t q = w; q < w + count; ++q) {
      if (q < K) _mm_prefetch(reinterpret_cast<const char*>(tile[g] + q * kLanes), _MM_HINT_T0);
      else if (hasNext) _mm_prefetch(reinterpret_cast<const char*>(tile[g] + batchWords + (q - K) * kLanes), _MM_HINT_T0);
    }
}

// dst[0, words) = src[0, words): non-temporal 64-byte stores where dst is aligned to 64 bytes
// (the rows of a key tensor are 8-byte aligned), plain ones at the ends.
inline void streamRow(uint64_t* dst, const uint64_t* src, int64_t words) {
  int64_t i = 0;
  for (; i < words && (reinterpret_cast<uintptr_t>(dst + i) & 63) != 0; ++i) dst[i] = src[i];
  for (; i + 8 <= words; i += 8) _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_loadu_si512(src + i));
  for (; i < words; ++i) dst[i] = src[i];
}

// An evaluation's move to the child x takes, for eight elements: from that child's hash (chLo,
// chHi, word form), the level's seed correction words cw0 (control correction for a left child in
// bit 0) and cw1, the right control word rc (bit `level` for a right child, lanes in `right`) and
// the mask tm of the control bits t, the child's seed (sLo with the control bit cleared, sHi) and
// control bit t, corrected where t was set. The DCF walks of one, two and many payloads share it.
inline void childStep(__m512i cw0, __m512i cw1, __m512i rc, int level, __mmask8 right, __m512i chLo, __m512i chHi, __m512i tm, __m512i& sLo, __m512i& sHi,
                      __m512i& t) {
  const __m512i one = _mm512_set1_epi64(1), notOne = _mm512_set1_epi64(~1LL);
  const __m512i tcw = _mm512_mask_blend_epi64(right, _mm512_and_si512(cw0, one), _mm512_and_si512(_mm512_maskz_srlv_epi64(0xFF, rc, _mm512_set1_epi64(level)), one));
  const __m512i cwLo = _mm512_or_si512(_mm512_and_si512(cw0, notOne), tcw);
  const __m512i cLo = _mm512_xor_si512(chLo, _mm512_and_si512(cwLo, tm));
  sHi = _mm512_xor_si512(chHi, _mm512_and_si512(cw1, tm));
  t = _mm512_and_si512(cLo, one);
  sLo = _mm512_and_si512(cLo, notOne);
}

// One level of both parties' walks toward alpha's child, the part the 64-bit and one-bit DCF key
// generations share (Boyle et al., Eurocrypt 2021, Fig. 1): from the children l = H_Left and
// r = H_Right of both parties' seeds of eight elements (control bit in bit 0, seed in the bits of
// seedMask), alpha's bit per lane (abit, and am as a mask), returns the level's seed correction
// (cwLo, its control bits clear; cwHi) and control corrections, and moves the seeds at s (the
// group's blocks) and control bits t0, t1 to the child on alpha's path. Masks, not branches.
struct SeedStep {
  __m512i cwLo, cwHi, tCWL, tCWR;
};

inline SeedStep seedStep(const Pair& l, const Pair& r, __m512i abit, __mmask8 am, __m512i seedMask, Block* s, __m512i& t0, __m512i& t1) {
  const __m512i one = _mm512_set1_epi64(1), zero = _mm512_setzero_si512();
  const __m512i tL0 = _mm512_and_si512(l.lo0, one), tL1 = _mm512_and_si512(l.lo1, one);
  const __m512i tR0 = _mm512_and_si512(r.lo0, one), tR1 = _mm512_and_si512(r.lo1, one);
  const __m512i sL0 = _mm512_and_si512(l.lo0, seedMask), sL1 = _mm512_and_si512(l.lo1, seedMask);
  const __m512i sR0 = _mm512_and_si512(r.lo0, seedMask), sR1 = _mm512_and_si512(r.lo1, seedMask);
  // Keep (alpha's path) and lose, per party: lo and hi words.
  const __m512i kLo0 = _mm512_mask_blend_epi64(am, sL0, sR0), kHi0 = _mm512_mask_blend_epi64(am, l.hi0, r.hi0);
  const __m512i kLo1 = _mm512_mask_blend_epi64(am, sL1, sR1), kHi1 = _mm512_mask_blend_epi64(am, l.hi1, r.hi1);
  const __m512i xLo0 = _mm512_mask_blend_epi64(am, sR0, sL0), xHi0 = _mm512_mask_blend_epi64(am, r.hi0, l.hi0);
  const __m512i xLo1 = _mm512_mask_blend_epi64(am, sR1, sL1), xHi1 = _mm512_mask_blend_epi64(am, r.hi1, l.hi1);
  SeedStep st;
  st.cwLo = _mm512_xor_si512(xLo0, xLo1), st.cwHi = _mm512_xor_si512(xHi0, xHi1);
  // The corrected control bits must differ on alpha's path and agree off it.
  st.tCWL = _mm512_xor_si512(_mm512_xor_si512(tL0, tL1), _mm512_xor_si512(abit, one));
  st.tCWR = _mm512_xor_si512(_mm512_xor_si512(tR0, tR1), abit);
  const __m512i tCWKeep = _mm512_mask_blend_epi64(am, st.tCWL, st.tCWR);
  const __m512i m0 = _mm512_sub_epi64(zero, t0), m1 = _mm512_sub_epi64(zero, t1);
  join(s, _mm512_xor_si512(kLo0, _mm512_and_si512(st.cwLo, m0)), _mm512_xor_si512(kHi0, _mm512_and_si512(st.cwHi, m0)),
       _mm512_xor_si512(kLo1, _mm512_and_si512(st.cwLo, m1)), _mm512_xor_si512(kHi1, _mm512_and_si512(st.cwHi, m1)));
  t0 = _mm512_xor_si512(_mm512_mask_blend_epi64(am, tL0, tR0), _mm512_and_si512(t0, tCWKeep));
  t1 = _mm512_xor_si512(_mm512_mask_blend_epi64(am, tL1, tR1), _mm512_and_si512(t1, tCWKeep));
  return st;
}

}  // namespace
