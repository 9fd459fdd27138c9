// AES-NI CTR: eight independent blocks in flight hide the aesenc latency.
// Compiled for AES-NI only inside the target region and called only after a CPUID check.
#include <immintrin.h>

#include <cstring>

#include "prg/aes128.h"

namespace tfe {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("aes,sse4.1")

namespace {
inline __m128i counterBlock(uint64_t hi, uint64_t lo) {
  // Big-endian 128-bit counter: byte 0 is the most significant.
  return _mm_set_epi64x(static_cast<long long>(__builtin_bswap64(lo)), static_cast<long long>(__builtin_bswap64(hi)));
}
}  // namespace

void aesCtrBlocksNi(const AesKey& key, uint64_t hi, uint64_t lo, uint64_t nblocks, uint8_t* out) {
  __m128i rk[11];
  for (int i = 0; i < 11; ++i) rk[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(key.roundKeys[i]));
  uint64_t i = 0;
  for (; i + 8 <= nblocks; i += 8) {
    __m128i b[8];
    for (int j = 0; j < 8; ++j) {
      uint64_t l = lo + j;
      b[j] = _mm_xor_si128(counterBlock(hi + (l < lo), l), rk[0]);
    }
    for (int r = 1; r < 10; ++r)
      for (int j = 0; j < 8; ++j) b[j] = _mm_aesenc_si128(b[j], rk[r]);
    for (int j = 0; j < 8; ++j) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * (i + j)), _mm_aesenclast_si128(b[j], rk[10]));
    uint64_t nl = lo + 8;
    hi += nl < lo;
    lo = nl;
  }
  for (; i < nblocks; ++i) {
    __m128i b = _mm_xor_si128(counterBlock(hi, lo), rk[0]);
    for (int r = 1; r < 10; ++r) b = _mm_aesenc_si128(b, rk[r]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * i), _mm_aesenclast_si128(b, rk[10]));
    hi += ++lo == 0;
  }
}

#pragma GCC pop_options
#else
void aesCtrBlocksNi(const AesKey&, uint64_t, uint64_t, uint64_t, uint8_t*) { throw "unreachable"; }
#endif

}  // namespace tfe
