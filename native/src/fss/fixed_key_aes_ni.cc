// AES-NI path of G (fixed_key_aes.h): eight independent blocks in flight, like the PRG's CTR
// code (prg/aes128_ni.cc), since callers batch a tree level across elements; and a VAES path
// (AVX-512) with sixteen. Compiled for AES-NI
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

// VAES with AVX-512: four blocks per instruction, sixteen in flight (four zmm registers), which
// doubles the AES throughput of cores whose vector AES units are wider than 128 bits (Zen 4, Ice
// Lake and later). Same function as the AES-NI loops above, block for block; the remainder
// (fewer than 16 blocks) goes to them.
#pragma GCC push_options
#pragma GCC target("aes,sse4.1,avx2,avx512f,vaes")

bool hasVaes() {
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("vaes") && __builtin_cpu_supports("aes");
  return ok;
}

namespace {
constexpr size_t kLanes = 4, kRegs = 4, kWide = kLanes * kRegs;

inline __m512i sigmaWide(__m512i x) {
  const __m512i highHalf = _mm512_set_epi64(-1, 0, -1, 0, -1, 0, -1, 0);
  // The maskz forms: GCC 12's unmasked ones read an "undefined" register and warn.
  return _mm512_xor_si512(_mm512_maskz_shuffle_epi32(0xFFFF, x, _MM_PERM_BADC), _mm512_and_si512(x, highHalf));
}

// The 11 round keys of each of two keys, broadcast to all four lanes.
struct WideKeys {
  __m512i k[2][11];
  WideKeys(const AesKey& a, const AesKey& b) {
    for (int r = 0; r < 11; ++r) {
      k[0][r] = _mm512_maskz_broadcast_i32x4(0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(a.roundKeys[r])));
      k[1][r] = _mm512_maskz_broadcast_i32x4(0xFFFF, _mm_load_si128(reinterpret_cast<const __m128i*>(b.roundKeys[r])));
    }
  }
};

// Blocks [i, i + 16): lane j of register g is block i + 4g + j; with kSelect, lane masks m[g]
// pick key 1 (two mask bits, one per 64-bit half, per lane). Without it no blend is issued: a
// blend per register and round costs a quarter of the hash's time on Zen 4 (it competes with
// the AES for the vector pipes), which a pass with one key need not pay.
template <bool kSelect>
inline void wideRounds(const WideKeys& wk, const Block* in, Block* out, const __mmask8* m) {
  const auto key = [&](size_t g, int r) { return kSelect ? _mm512_mask_blend_epi64(m[g], wk.k[0][r], wk.k[1][r]) : wk.k[0][r]; };
  __m512i x[kRegs], b[kRegs];
  for (size_t g = 0; g < kRegs; ++g) {
    x[g] = sigmaWide(_mm512_loadu_si512(in + kLanes * g));
    b[g] = _mm512_xor_si512(x[g], key(g, 0));
  }
  for (int r = 1; r < 10; ++r)
    for (size_t g = 0; g < kRegs; ++g) b[g] = _mm512_aesenc_epi128(b[g], key(g, r));
  for (size_t g = 0; g < kRegs; ++g)
    _mm512_storeu_si512(out + kLanes * g, _mm512_xor_si512(_mm512_aesenclast_epi128(b[g], key(g, 10)), x[g]));
}
}  // namespace

void hashBlocksVaes(const AesKey& key, const Block* in, Block* out, size_t n) {
  const WideKeys wk(key, key);
  size_t i = 0;
  for (; i + kWide <= n; i += kWide) wideRounds<false>(wk, in + i, out + i, nullptr);
  if (i < n) hashBlocksNi(key, in + i, out + i, n - i);
}

namespace {
// The lane masks of blocks [i, i + 16) from their direction bytes (0 or 1): register g's mask has
// both bits of lane j (one per 64-bit half) set when block i + 4g + j goes right. One compare and
// a table per nibble, not a scalar loop over the blocks.
inline void laneMasks(const uint8_t* dir, __mmask8* m) {
  static constexpr uint8_t kSpread[16] = {0x00, 0x03, 0x0C, 0x0F, 0x30, 0x33, 0x3C, 0x3F, 0xC0, 0xC3, 0xCC, 0xCF, 0xF0, 0xF3, 0xFC, 0xFF};
  const __m128i d = _mm_and_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(dir)), _mm_set1_epi8(1));
  const unsigned bits = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_set1_epi8(1))));
  for (size_t g = 0; g < kRegs; ++g) m[g] = static_cast<__mmask8>(kSpread[bits >> (4 * g) & 15]);
}
}  // namespace

void hashChildrenVaes(const AesKey& left, const AesKey& right, const Block* in, const uint8_t* dir, Block* out, size_t n) {
  const WideKeys wk(left, right);
  size_t i = 0;
  for (; i + kWide <= n; i += kWide) {
    __mmask8 m[kRegs];
    laneMasks(dir + i, m);
    wideRounds<true>(wk, in + i, out + i, m);
  }
  if (i < n) hashChildrenNi(left, right, in + i, dir + i, out + i, n - i);
}

// out[q * n + i] = H(in[i] xor (0 || q)) for q < blocks: each group of sixteen seeds is loaded
// once and tweaked in registers for every q (the many-payload DCF's value blocks, dcf.h).
void hashTweaksVaes(const AesKey& key, const Block* in, size_t n, size_t blocks, Block* out) {
  const WideKeys wk(key, key);
  size_t i = 0;
  for (; i + kWide <= n; i += kWide) {
    __m512i s[kRegs];
    for (size_t g = 0; g < kRegs; ++g) s[g] = _mm512_loadu_si512(in + i + kLanes * g);
    for (size_t q = 0; q < blocks; ++q) {
      const long long t = static_cast<long long>(q);
      const __m512i tweak = _mm512_set_epi64(t, 0, t, 0, t, 0, t, 0);  // (0 || q) in every lane
      __m512i x[kRegs], b[kRegs];
      for (size_t g = 0; g < kRegs; ++g) {
        x[g] = sigmaWide(_mm512_xor_si512(s[g], tweak));
        b[g] = _mm512_xor_si512(x[g], wk.k[0][0]);
      }
      for (int r = 1; r < 10; ++r)
        for (size_t g = 0; g < kRegs; ++g) b[g] = _mm512_aesenc_epi128(b[g], wk.k[0][r]);
      for (size_t g = 0; g < kRegs; ++g)
        _mm512_storeu_si512(out + q * n + i + kLanes * g, _mm512_xor_si512(_mm512_aesenclast_epi128(b[g], wk.k[0][10]), x[g]));
    }
  }
  if (i == n) return;
  // The last seeds (fewer than sixteen): tweaked into a buffer, hashed by the AES-NI loop.
  Block tmp[kWide], hashed[kWide];
  for (size_t q = 0; q < blocks; ++q) {
    for (size_t j = i; j < n; ++j) tmp[j - i] = Block{in[j].lo, in[j].hi ^ q};
    hashBlocksNi(key, tmp, hashed, n - i);
    for (size_t j = i; j < n; ++j) out[q * n + j] = hashed[j - i];
  }
}

#pragma GCC pop_options
#else
void hashBlocksNi(const AesKey&, const Block*, Block*, size_t) { throw "unreachable"; }
void hashChildrenNi(const AesKey&, const AesKey&, const Block*, const uint8_t*, Block*, size_t) { throw "unreachable"; }
bool hasVaes() { return false; }
void hashBlocksVaes(const AesKey&, const Block*, Block*, size_t) { throw "unreachable"; }
void hashChildrenVaes(const AesKey&, const AesKey&, const Block*, const uint8_t*, Block*, size_t) { throw "unreachable"; }
void hashTweaksVaes(const AesKey&, const Block*, size_t, size_t, Block*) { throw "unreachable"; }
#endif

}  // namespace fss
}  // namespace tfe
