// Helpers shared by the DCF walks that keep their AES in registers (VAES): dcf_eval_avx512.cc's
// dcfEvalBatchVaes and dcf_bit_avx512.cc's dcfBitEvalBatchVaes. Their seeds stay as word vectors
// (the lo words of eight elements, the hi words), and a level's hash runs on the blocks two
// unpacks make of them: one register with the blocks of elements 0, 2, 4, 6, one with 1, 3, 5, 7.
// Include it inside namespace tfe::fss, after `#pragma GCC target("avx512f,aes,vaes")`,
// <immintrin.h> and fss/fixed_key_aes.h; it opens an anonymous namespace. (The maskz forms of
// the intrinsics: GCC 12's unmasked ones read an "undefined" register and warn.)
#pragma once

namespace {

// Lane masks of the unpacked blocks (two bits per block, one per 64-bit half) from an 8-bit mask
// of elements: the even elements' bits for the first register, the odd ones' for the second.
struct SpreadTables {
  uint8_t even[256], odd[256];
  constexpr SpreadTables() : even(), odd() {
    for (int r = 0; r < 256; ++r) {
      int e = 0, o = 0;
      for (int l = 0; l < 4; ++l) {
        e |= ((r >> (2 * l)) & 1) * (3 << (2 * l));
        o |= ((r >> (2 * l + 1)) & 1) * (3 << (2 * l));
      }
      even[r] = static_cast<uint8_t>(e), odd[r] = static_cast<uint8_t>(o);
    }
  }
};
constexpr SpreadTables kSpread{};

// Round keys of a pair of G's keys, each broadcast to the four lanes; key(m, r) is round key r
// of the first key in the lanes m leaves clear and of the second in those it sets.
struct PairKeys {
  __m512i k[2][11];
  PairKeys(HashKey a, HashKey b) {
    for (int r = 0; r < 11; ++r) {
      k[0][r] = _mm512_maskz_broadcast_i32x4(0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(fixedKey(a).roundKeys[r])));
      k[1][r] = _mm512_maskz_broadcast_i32x4(0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(fixedKey(b).roundKeys[r])));
    }
  }
  __m512i key(__mmask8 m, int r) const { return _mm512_mask_blend_epi64(m, k[0][r], k[1][r]); }
};

// sigma of eight seeds in word form, as the two registers of blocks the hash takes.
inline void sigmaBlocks(__m512i lo, __m512i hi, __m512i& even, __m512i& odd) {
  // sigma(hi || lo) = (hi xor lo) || hi.
  const __m512i sigLo = hi, sigHi = _mm512_xor_si512(hi, lo);
  even = _mm512_maskz_unpacklo_epi64(0xFF, sigLo, sigHi);
  odd = _mm512_maskz_unpackhi_epi64(0xFF, sigLo, sigHi);
}

// The two registers of blocks back in word form, elements in order.
inline void wordsOf(__m512i even, __m512i odd, __m512i& lo, __m512i& hi) {
  lo = _mm512_maskz_unpacklo_epi64(0xFF, even, odd);
  hi = _mm512_maskz_unpackhi_epi64(0xFF, even, odd);
}

// H over n registers of blocks in flight: out[j] = AES(in[j]) xor in[j] under key pair `keys`,
// lanes picked by m[j] (fixed_key_aes.h's H, the input already through sigma).
template <int n>
inline void hashRegisters(const PairKeys& keys, const __m512i* in, const __mmask8* m, __m512i* out) {
  for (int j = 0; j < n; ++j) out[j] = _mm512_xor_si512(in[j], keys.key(m[j], 0));
  for (int r = 1; r < 10; ++r)
    for (int j = 0; j < n; ++j) out[j] = _mm512_aesenc_epi128(out[j], keys.key(m[j], r));
  for (int j = 0; j < n; ++j) out[j] = _mm512_xor_si512(_mm512_aesenclast_epi128(out[j], keys.key(m[j], 10)), in[j]);
}

// hashRegisters under two key pairs at once (an evaluation's child and value blocks), their
// rounds interleaved: 2n registers in flight.
template <int n>
inline void hashRegistersTwo(const PairKeys& ka, const PairKeys& kb, const __m512i* in, const __mmask8* m, __m512i* outA, __m512i* outB) {
  for (int j = 0; j < n; ++j) {
    outA[j] = _mm512_xor_si512(in[j], ka.key(m[j], 0));
    outB[j] = _mm512_xor_si512(in[j], kb.key(m[j], 0));
  }
  for (int r = 1; r < 10; ++r)
    for (int j = 0; j < n; ++j) {
      outA[j] = _mm512_aesenc_epi128(outA[j], ka.key(m[j], r));
      outB[j] = _mm512_aesenc_epi128(outB[j], kb.key(m[j], r));
    }
  for (int j = 0; j < n; ++j) {
    outA[j] = _mm512_xor_si512(_mm512_aesenclast_epi128(outA[j], ka.key(m[j], 10)), in[j]);
    outB[j] = _mm512_xor_si512(_mm512_aesenclast_epi128(outB[j], kb.key(m[j], 10)), in[j]);
  }
}

}  // namespace
