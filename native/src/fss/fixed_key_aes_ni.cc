// AES-NI path of G (fixed_key_aes.h): eight independent blocks in flight, like the PRG's CTR
// code (prg/aes128_ni.cc), since callers batch a tree level across elements. Compiled for AES-NI
// only inside the target region and reached only after the CPUID check in useAesNi.
#include <immintrin.h>

#include "fss/fixed_key_aes.h"

namespace tfe {
namespace fss {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("aes,sse4.1")

namespace {
// sigma(hi || lo) = (hi xor lo) || hi: swap the halves, then fold the old high half into the new one.
inline __m128i sigmaNi(__m128i x) {
  const __m128i highHalf = _mm_set_epi64x(-1, 0);
  return _mm_xor_si128(_mm_shuffle_epi32(x, 0x4e), _mm_and_si128(x, highHalf));
}
}  // namespace

void hashBlocksNi(const AesKey& key, const Block* in, Block* out, size_t n) {
  __m128i rk[11];
  for (int i = 0; i < 11; ++i) rk[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(key.roundKeys[i]));
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i x[8], b[8];
    for (int j = 0; j < 8; ++j) {
      x[j] = sigmaNi(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i + j)));
      b[j] = _mm_xor_si128(x[j], rk[0]);
    }
    for (int r = 1; r < 10; ++r)
      for (int j = 0; j < 8; ++j) b[j] = _mm_aesenc_si128(b[j], rk[r]);
    for (int j = 0; j < 8; ++j)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i + j), _mm_xor_si128(_mm_aesenclast_si128(b[j], rk[10]), x[j]));
  }
  for (; i < n; ++i) {
    __m128i x = sigmaNi(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
    __m128i b = _mm_xor_si128(x, rk[0]);
    for (int r = 1; r < 10; ++r) b = _mm_aesenc_si128(b, rk[r]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_xor_si128(_mm_aesenclast_si128(b, rk[10]), x));
  }
}

// As hashBlocksNi, but block i uses key[dir[i]]: the round keys are loaded per block (from L1;
// loads are cheaper than the aesenc they feed), so a batch of mixed directions still keeps eight
// blocks in flight instead of splitting into two short runs with serial tails.
void hashChildrenNi(const AesKey& left, const AesKey& right, const Block* in, const uint8_t* dir, Block* out, size_t n) {
  const AesKey* keys[2] = {&left, &right};
  auto rk = [](const AesKey* k, int r) { return _mm_load_si128(reinterpret_cast<const __m128i*>(k->roundKeys[r])); };
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i x[8], b[8];
    const AesKey* k[8];
    for (int j = 0; j < 8; ++j) {
      k[j] = keys[dir[i + j] & 1];
      x[j] = sigmaNi(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i + j)));
      b[j] = _mm_xor_si128(x[j], rk(k[j], 0));
    }
    for (int r = 1; r < 10; ++r)
      for (int j = 0; j < 8; ++j) b[j] = _mm_aesenc_si128(b[j], rk(k[j], r));
    for (int j = 0; j < 8; ++j)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i + j), _mm_xor_si128(_mm_aesenclast_si128(b[j], rk(k[j], 10)), x[j]));
  }
  for (; i < n; ++i) {
    const AesKey* k = keys[dir[i] & 1];
    __m128i x = sigmaNi(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
    __m128i b = _mm_xor_si128(x, rk(k, 0));
    for (int r = 1; r < 10; ++r) b = _mm_aesenc_si128(b, rk(k, r));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_xor_si128(_mm_aesenclast_si128(b, rk(k, 10)), x));
  }
}

#pragma GCC pop_options
#else
void hashBlocksNi(const AesKey&, const Block*, Block*, size_t) { throw "unreachable"; }
void hashChildrenNi(const AesKey&, const AesKey&, const Block*, const uint8_t*, Block*, size_t) { throw "unreachable"; }
#endif

}  // namespace fss
}  // namespace tfe
