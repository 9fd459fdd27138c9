// AES-NI CTR: eight independent blocks in flight hide the aesenc latency. The key schedule runs
// on aeskeygenassist too, so the seed never indexes a lookup table (no cache-timing leak).
// Compiled for AES-NI only inside the target region and called only after a CPUID check.
#include <immintrin.h>

#include <cstring>

#include "core/cpu_features.h"
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
// One FIPS-197 key-expansion step. aeskeygenassist puts RotWord(SubWord(w3)) ^ rcon in its top
// dword (dword 3, from the key's last word); broadcast it, then fold the prefix XOR
// w0, w0^w1, w0^w1^w2, w0^w1^w2^w3 of the previous round key in with three shifted XORs.
inline __m128i expandStep(__m128i key, __m128i assist) {
  assist = _mm_shuffle_epi32(assist, 0xff);
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
  return _mm_xor_si128(key, assist);
}
}  // namespace

void aesExpandKeyNi(const uint8_t key[16], AesKey* out) {
  __m128i k[11];
  k[0] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(key));
  // The round constant is an immediate operand of aeskeygenassist, hence one line per round.
  k[1] = expandStep(k[0], _mm_aeskeygenassist_si128(k[0], 0x01));
  k[2] = expandStep(k[1], _mm_aeskeygenassist_si128(k[1], 0x02));
  k[3] = expandStep(k[2], _mm_aeskeygenassist_si128(k[2], 0x04));
  k[4] = expandStep(k[3], _mm_aeskeygenassist_si128(k[3], 0x08));
  k[5] = expandStep(k[4], _mm_aeskeygenassist_si128(k[4], 0x10));
  k[6] = expandStep(k[5], _mm_aeskeygenassist_si128(k[5], 0x20));
  k[7] = expandStep(k[6], _mm_aeskeygenassist_si128(k[6], 0x40));
  k[8] = expandStep(k[7], _mm_aeskeygenassist_si128(k[7], 0x80));
  k[9] = expandStep(k[8], _mm_aeskeygenassist_si128(k[8], 0x1b));
  k[10] = expandStep(k[9], _mm_aeskeygenassist_si128(k[9], 0x36));
  // Same byte layout as the portable schedule: round key r is bytes 16r..16r+15 of w[0..43].
  for (int i = 0; i < 11; ++i) _mm_store_si128(reinterpret_cast<__m128i*>(out->roundKeys[i]), k[i]);
}

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

// Keystream blocks at arbitrary block indices (iv's counter plus idx[k]), eight in flight: the
// field PRG's retry blocks and the permutations' refills are scattered, not consecutive.
void aesCtrBlocksAtNi(const AesKey& key, uint64_t hi, uint64_t lo, const uint64_t* idx, uint64_t n, uint8_t* out) {
  __m128i rk[11];
  for (int i = 0; i < 11; ++i) rk[i] = _mm_load_si128(reinterpret_cast<const __m128i*>(key.roundKeys[i]));
  auto block = [&](uint64_t k) {
    uint64_t l = lo + idx[k];
    return _mm_xor_si128(counterBlock(hi + (l < lo), l), rk[0]);
  };
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i b[8];
    for (int j = 0; j < 8; ++j) b[j] = block(i + j);
    for (int r = 1; r < 10; ++r)
      for (int j = 0; j < 8; ++j) b[j] = _mm_aesenc_si128(b[j], rk[r]);
    for (int j = 0; j < 8; ++j) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * (i + j)), _mm_aesenclast_si128(b[j], rk[10]));
  }
  for (; i < n; ++i) {
    __m128i b = block(i);
    for (int r = 1; r < 10; ++r) b = _mm_aesenc_si128(b, rk[r]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 16 * i), _mm_aesenclast_si128(b, rk[10]));
  }
}

#pragma GCC pop_options

// The 11 round keys, each in all four 128-bit lanes of a zmm (for the VAES loops below).
__attribute__((target("avx512f"))) static inline void roundKeysX4(const AesKey& key, __m512i rk[11]) {
  for (int r = 0; r < 11; ++r) {
    alignas(64) uint8_t four[64];
    for (int k = 0; k < 4; ++k) std::memcpy(four + 16 * k, key.roundKeys[r], 16);
    rk[r] = _mm512_load_si512(four);
  }
}

// aesCtrBlocksAtNi on VAES with AVX-512: four blocks per zmm, sixteen in flight, counter blocks
// built in registers. Requires lo + idx[k] < 2^64 for every k (no carry into hi: the caller
// checks) and a CPU with VAES, AVX-512F and AVX-512BW (aesVaesAvailable).
__attribute__((target("aes,sse4.1,avx512f,avx512bw,vaes"))) void aesCtrBlocksAtVaes(const AesKey& key, uint64_t hi, uint64_t lo,
                                                                                   const uint64_t* idx, uint64_t n, uint8_t* out) {
  __m512i rk[11];
  roundKeysX4(key, rk);
  // Qword lanes [hi, lo + i0, hi, lo + i1, ...], then each qword byte-reversed (big-endian blocks).
  const __m512i spread = _mm512_set_epi64(3, 3, 2, 2, 1, 1, 0, 0);
  const __m512i hiv = _mm512_set1_epi64(static_cast<long long>(hi)), lov = _mm512_set1_epi64(static_cast<long long>(lo));
  const __m512i bswap = _mm512_set4_epi32(0x08090a0b, 0x0c0d0e0f, 0x00010203, 0x04050607);
  uint64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m512i b[4];
    for (int j = 0; j < 4; ++j) {
      const __m512i ix = _mm512_maskz_loadu_epi64(0x0f, idx + i + 4 * j);
      __m512i c = _mm512_mask_blend_epi64(0x55, _mm512_maskz_permutexvar_epi64(0xff, spread, ix), hiv);
      c = _mm512_mask_add_epi64(c, 0xaa, c, lov);
      b[j] = _mm512_xor_si512(_mm512_shuffle_epi8(c, bswap), rk[0]);
    }
    for (int r = 1; r < 10; ++r)
      for (int j = 0; j < 4; ++j) b[j] = _mm512_aesenc_epi128(b[j], rk[r]);
    for (int j = 0; j < 4; ++j) _mm512_storeu_si512(out + 16 * (i + 4 * j), _mm512_aesenclast_epi128(b[j], rk[10]));
  }
  if (i < n) aesCtrBlocksAtNi(key, hi, lo, idx + i, n - i, out + 16 * i);
}

// aesCtrBlocksNi on VAES with AVX-512: consecutive counters, four blocks per zmm and 32 in flight
// (OpenSSL's own AES-CTR uses 512-bit VAES on such CPUs). Requires lo + n < 2^64 (no carry into
// hi: the caller checks) and a CPU with VAES, AVX-512F and AVX-512BW (aesVaesAvailable).
__attribute__((target("aes,sse4.1,avx512f,avx512bw,vaes"))) void aesCtrBlocksVaes(const AesKey& key, uint64_t hi, uint64_t lo, uint64_t n,
                                                                                 uint8_t* out) {
  constexpr int kVecs = 8;
  __m512i rk[11];
  roundKeysX4(key, rk);
  // Qword lanes [hi, lo, hi, lo + 1, hi, lo + 2, hi, lo + 3], each byte-reversed when used.
  __m512i ctr = _mm512_set_epi64(static_cast<long long>(lo + 3), static_cast<long long>(hi), static_cast<long long>(lo + 2),
                                 static_cast<long long>(hi), static_cast<long long>(lo + 1), static_cast<long long>(hi),
                                 static_cast<long long>(lo), static_cast<long long>(hi));
  const __m512i four = _mm512_set_epi64(4, 0, 4, 0, 4, 0, 4, 0);
  const __m512i bswap = _mm512_set4_epi32(0x08090a0b, 0x0c0d0e0f, 0x00010203, 0x04050607);
  uint64_t i = 0;
  for (; i + 4 * kVecs <= n; i += 4 * kVecs) {
    __m512i b[kVecs];
    for (int j = 0; j < kVecs; ++j) {
      b[j] = _mm512_xor_si512(_mm512_shuffle_epi8(ctr, bswap), rk[0]);
      ctr = _mm512_add_epi64(ctr, four);
    }
    for (int r = 1; r < 10; ++r)
      for (int j = 0; j < kVecs; ++j) b[j] = _mm512_aesenc_epi128(b[j], rk[r]);
    for (int j = 0; j < kVecs; ++j) _mm512_storeu_si512(out + 16 * (i + 4 * j), _mm512_aesenclast_epi128(b[j], rk[10]));
  }
  if (i < n) aesCtrBlocksNi(key, hi, lo + i, n - i, out + 16 * i);
}

bool aesVaesAvailable() { return cpuFeatures().vaes; }
#else
void aesExpandKeyNi(const uint8_t*, AesKey*) { throw "unreachable"; }
void aesCtrBlocksNi(const AesKey&, uint64_t, uint64_t, uint64_t, uint8_t*) { throw "unreachable"; }
void aesCtrBlocksAtNi(const AesKey&, uint64_t, uint64_t, const uint64_t*, uint64_t, uint8_t*) { throw "unreachable"; }
void aesCtrBlocksAtVaes(const AesKey&, uint64_t, uint64_t, const uint64_t*, uint64_t, uint8_t*) { throw "unreachable"; }
bool aesVaesAvailable() { return false; }
#endif

}  // namespace tfe
