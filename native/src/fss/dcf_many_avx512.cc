// DcfEvalMany's walk with eight elements per register (dcf_many.cc has the construction and the
// scalar walk). The scalar walk splits each level's batch by the child x takes, hashes each side's
// value blocks in memory and adds them back one payload at a time: about 40% of its time was that
// loop. Here the seeds stay as word vectors from level to level, a lane's value blocks are hashed
// under the key of the side it takes (H_Value left, H_Value2 right: a blend of round keys per
// lane, fss/vaes_blocks.h) with the tweak q applied in registers, and each payload's accumulator
// of eight elements takes the hash and its correction words (one line of a key tile, dcf.h
// "Tiles") with two adds. Compiled for AVX-512F, AES and VAES inside the target region, reached
// only when the CPU has them (impl auto); impl 'aesni' keeps the scalar walk, which the tests
// compare against this one.
#include "fss/dcf_many_avx512.h"

#include <immintrin.h>

#include <vector>

#include "core/cpu_features.h"
#include "fss/dcf.h"
#include "fss/fixed_key_aes.h"

namespace tfe {
namespace fss {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The key generation: both parties' walks toward alpha, eight elements per register (the seeds'
// part of a level shared with the two-payload walk: seedStep, fss/avx512_blocks.h), the value
// blocks of every tweak hashed in memory (hashTweaks: block q of seed j at q 2N + j, party 0's
// seed of element e at 2e), and each payload's correction and path value per lane. Selections are
// masks on alpha's bits, never branches: the dealer's timing must not depend on alpha.
#pragma GCC push_options
#pragma GCC target("avx512f")
#include "fss/avx512_blocks.h"

namespace {

// (-1)^t * v, t in {0, 1} per lane.
inline __m512i signedBy(__m512i t, __m512i v) {
  const __m512i m = _mm512_sub_epi64(_mm512_setzero_si512(), t);
  return _mm512_sub_epi64(_mm512_xor_si512(v, m), m);
}

template <typename T>
void wipe(T* p, size_t words) {
  volatile uint64_t* w = reinterpret_cast<volatile uint64_t*>(p);
  for (size_t i = 0; i < words; ++i) w[i] = 0;
}

}  // namespace

bool dcfKeygenManyWideAvailable() { return cpuFeatures().avx512; }

void dcfKeygenManyBatchWide(const DcfKeygenArgs& a, int P, int64_t n, int64_t first, const uint64_t* alphaIn, const uint64_t* betaIn, uint64_t* key0,
                            uint64_t* key1) {
  constexpr int N = kDcfManyBatch, G = N / kLanes;
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits, P), blocks = (P + 1) / 2;
  const __m512i one = _mm512_set1_epi64(1), notOne = _mm512_set1_epi64(~1LL), zero = _mm512_setzero_si512();
  const __m512i domain = _mm512_set1_epi64(static_cast<long long>(dcfDomainMask(bits)));
  alignas(64) Block s[2 * N], L[2 * N], R[2 * N];
  // Value blocks of a level (left children VL, right VR) and the per-payload lanes: beta
  // transposed to [p][element] once, and the path values valpha[p][element].
  thread_local std::vector<Block> VL, VR;
  thread_local std::vector<uint64_t> betaT, valpha;
  VL.resize(static_cast<size_t>(2 * N) * blocks), VR.resize(static_cast<size_t>(2 * N) * blocks);
  betaT.resize(static_cast<size_t>(P) * N), valpha.assign(static_cast<size_t>(P) * N, 0);
  Block *vl = VL.data(), *vr = VR.data();
  uint64_t *bt = betaT.data(), *va = valpha.data();
  for (int e = 0; e < N; ++e)
    for (int p = 0; p < P; ++p) bt[p * N + e] = betaIn[(first + e) * P + p];
  dcfRootKeys(a, n, K, first, N, s, key0, key1);
  __m512i t0[G], t1[G], alpha[G], tRight[G];
  for (int g = 0; g < G; ++g) {
    t0[g] = zero, t1[g] = one, tRight[g] = zero;
    alpha[g] = _mm512_and_si512(_mm512_loadu_si512(alphaIn + first + g * kLanes), domain);
  }
  // Word w of group g's tile, both keys (party 1's words are party 0's but for the root seed).
  const auto put = [&](int g, int64_t w, __m512i v) {
    const int64_t at = (first + g * kLanes) * K + w * kLanes;
    putLine(key0 + at, v), putLine(key1 + at, v);
  };
  for (int level = 0; level < bits; ++level) {
    hashBlocks(HashKey::Left, s, L, 2 * N, a.impl);
    hashBlocks(HashKey::Right, s, R, 2 * N, a.impl);
    hashTweaks(HashKey::Value, s, 2 * N, blocks, vl, a.impl);
    hashTweaks(HashKey::Value2, s, 2 * N, blocks, vr, a.impl);
    const int64_t w = dcfLevelWord(level, P);
    const __m512i shiftV = _mm512_set1_epi64(bits - 1 - level), levelV = _mm512_set1_epi64(level);
    for (int g = 0; g < G; ++g) {
      const int o = 2 * g * kLanes;  // the group's first block
      const __m512i abit = _mm512_and_si512(_mm512_maskz_srlv_epi64(0xFF, alpha[g], shiftV), one);
      const __mmask8 am = _mm512_test_epi64_mask(abit, one);  // set: alpha's bit is 1, keep is the right child
      for (int64_t q = 0; q < blocks; ++q) {
        const Pair l = split(vl + q * 2 * N + o), r = split(vr + q * 2 * N + o);
        for (int h = 0; h < 2 && 2 * q + h < P; ++h) {
          const int64_t p = 2 * q + h;
          // Payload p is word h of the value block q of each party's left and right child.
          const __m512i left0 = h ? l.hi0 : l.lo0, left1 = h ? l.hi1 : l.lo1, right0 = h ? r.hi0 : r.lo0, right1 = h ? r.hi1 : r.lo1;
          const __m512i keep0 = _mm512_mask_blend_epi64(am, left0, right0), keep1 = _mm512_mask_blend_epi64(am, left1, right1);
          const __m512i lose0 = _mm512_mask_blend_epi64(am, right0, left0), lose1 = _mm512_mask_blend_epi64(am, right1, left1);
          uint64_t* vap = va + p * N + g * kLanes;
          const __m512i vaNow = _mm512_loadu_si512(vap);
          // The lost child's shares must sum to beta when it lies left of alpha, to 0 when right.
          __m512i vcw = signedBy(t1[g], _mm512_sub_epi64(_mm512_sub_epi64(lose1, lose0), vaNow));
          vcw = _mm512_add_epi64(vcw, _mm512_maskz_mov_epi64(am, signedBy(t1[g], _mm512_loadu_si512(bt + p * N + g * kLanes))));
          _mm512_storeu_si512(vap, _mm512_add_epi64(_mm512_sub_epi64(vaNow, keep1), _mm512_add_epi64(keep0, signedBy(t1[g], vcw))));
          put(g, w + 2 + p, vcw);
        }
      }
      // The seeds move after the values: those used the control bit t1 of this level.
      const SeedStep st = seedStep(split(L + o), split(R + o), abit, am, notOne, s + o, t0[g], t1[g]);
      put(g, w, _mm512_or_si512(st.cwLo, st.tCWL));
      put(g, w + 1, st.cwHi);
      tRight[g] = _mm512_or_si512(tRight[g], _mm512_maskz_sllv_epi64(0xFF, st.tCWR, levelV));
    }
  }
  // Final corrections: Convert_0 = the seed's hi word, Convert_p = word (p - 1) mod 2 of
  // H_Value2(s xor (0 || (p - 1) / 2)).
  const int64_t convBlocks = P / 2;
  if (convBlocks > 0) hashTweaks(HashKey::Value2, s, 2 * N, convBlocks, vr, a.impl);
  for (int g = 0; g < G; ++g) {
    const int o = 2 * g * kLanes;
    put(g, dcfRightControlWord(bits, P), tRight[g]);
    const Pair sp = split(s + o);
    const auto final = [&](int64_t p, __m512i c0, __m512i c1) {
      put(g, dcfFinalWord(bits, P, p), signedBy(t1[g], _mm512_sub_epi64(_mm512_sub_epi64(c1, c0), _mm512_loadu_si512(va + p * N + g * kLanes))));
    };
    final(0, sp.hi0, sp.hi1);
    for (int64_t q = 0; q < convBlocks; ++q) {
      const Pair c = split(vr + q * 2 * N + o);
      final(2 * q + 1, c.lo0, c.lo1);
      if (2 * q + 2 < P) final(2 * q + 2, c.hi0, c.hi1);
    }
  }
  _mm_sfence();
  // Wipe the walk's secrets (the dealer's alpha path is in them).
  wipe(s, 4 * N), wipe(L, 4 * N), wipe(R, 4 * N);
  wipe(vl, 2 * VL.size()), wipe(vr, 2 * VR.size()), wipe(va, valpha.size()), wipe(bt, betaT.size());
}

#pragma GCC pop_options

// The evaluation, with its AES in registers (VAES); the helpers above are AVX-512F only, so they
// inline here.
#pragma GCC push_options
#pragma GCC target("avx512f,aes,vaes")
#include "fss/vaes_blocks.h"

namespace {

constexpr int kGroups = kDcfManyBatch / kLanes;
// Key lines fetched this many levels ahead (keys from the offline pool come from DRAM).
constexpr int kAhead = 4;

// The value blocks q of eight seeds (word form) under each lane's side key, two groups at once:
// sigma(s xor (0 || q)) hashed by `keys` with lane masks m; results as lo (payload 2q) and hi
// (payload 2q + 1) word vectors of groups g0 and g0 + 1.
inline void valueWords(const PairKeys& keys, const __m512i* sLo, const __m512i* sHi, int g0, int64_t q, const __mmask8* m, __m512i* lo, __m512i* hi) {
  const __m512i tweak = _mm512_set1_epi64(q);
  __m512i in[4], v[4];
  for (int h = 0; h < 2; ++h) sigmaBlocks(sLo[g0 + h], _mm512_xor_si512(sHi[g0 + h], tweak), in[2 * h], in[2 * h + 1]);
  hashRegisters<4>(keys, in, m, v);
  for (int h = 0; h < 2; ++h) wordsOf(v[2 * h], v[2 * h + 1], lo[h], hi[h]);
}

}  // namespace

bool dcfEvalManyWideAvailable(AesImpl impl) { return cpuFeatures().avx512 && useVaes(impl); }

void dcfEvalManyBatchWide(const DcfEvalArgs& a, int P, int64_t first, const uint64_t* keys, const uint64_t* xIn, uint64_t* y, int64_t end) {
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits, P), blocks = (P + 1) / 2;
  const uint64_t* tile[kGroups];
  for (int g = 0; g < kGroups; ++g) tile[g] = keys + (first + g * kLanes) * K;
  const auto word = [&](int g, int64_t w) { return _mm512_loadu_si512(tile[g] + w * kLanes); };
  const bool hasNext = first + 2 * kDcfManyBatch <= end;
  static const PairKeys child(HashKey::Left, HashKey::Right), value(HashKey::Value, HashKey::Value2), conv(HashKey::Value2, HashKey::Value2);
  const __m512i zero = _mm512_setzero_si512();
  // Payload p's accumulators of group g: eight words at acc + (p * kGroups + g) * kLanes.
  thread_local std::vector<uint64_t> accBuf;
  accBuf.assign(static_cast<size_t>(P) * kGroups * kLanes, 0);
  uint64_t* acc = accBuf.data();
  const auto accAt = [&](int64_t p, int g) { return acc + (p * kGroups + g) * kLanes; };
  const auto addTo = [&](int64_t p, int g, __m512i v) { _mm512_storeu_si512(accAt(p, g), _mm512_add_epi64(_mm512_loadu_si512(accAt(p, g)), v)); };
  __m512i sLo[kGroups], sHi[kGroups], t[kGroups], x[kGroups], rc[kGroups];
  const __m512i domain = _mm512_set1_epi64(static_cast<long long>(dcfDomainMask(bits)));
  for (int g = 0; g < kGroups; ++g) {
    sLo[g] = word(g, 0), sHi[g] = word(g, 1);
    t[g] = _mm512_set1_epi64(static_cast<long long>(a.party));
    x[g] = _mm512_and_si512(_mm512_loadu_si512(xIn + first + g * kLanes), domain);
    rc[g] = word(g, dcfRightControlWord(bits, P));
  }
  for (int level = 0; level < bits; ++level) {
    const int64_t w = dcfLevelWord(level, P);
    prefetchTileWords<kGroups>(tile, K, kDcfManyBatch * K, hasNext, w + kAhead * (2 + P), static_cast<int>(2 + P));
    const __m512i bit = _mm512_set1_epi64(static_cast<long long>(uint64_t(1) << (bits - 1 - level)));
    for (int g0 = 0; g0 < kGroups; g0 += 2) {
      __m512i in[4], c[4], v[4];
      __mmask8 m[4], right[2];
      for (int h = 0; h < 2; ++h) {
        right[h] = _mm512_test_epi64_mask(x[g0 + h], bit);
        sigmaBlocks(sLo[g0 + h], sHi[g0 + h], in[2 * h], in[2 * h + 1]);
        m[2 * h] = kSpread.even[right[h]], m[2 * h + 1] = kSpread.odd[right[h]];
      }
      // The child x's bit picks and value block 0 (payloads 0 and 1) in one pass.
      hashRegistersTwo<4>(child, value, in, m, c, v);
      __m512i tm[2], lo[2], hi[2];
      for (int h = 0; h < 2; ++h) {
        tm[h] = _mm512_sub_epi64(zero, t[g0 + h]);
        wordsOf(v[2 * h], v[2 * h + 1], lo[h], hi[h]);
      }
      for (int64_t q = 0; q < blocks; ++q) {
        if (q > 0) valueWords(value, sLo, sHi, g0, q, m, lo, hi);
        for (int h = 0; h < 2; ++h) {
          const int g = g0 + h;
          const int64_t p = 2 * q;
          addTo(p, g, _mm512_add_epi64(lo[h], _mm512_and_si512(word(g, w + 2 + p), tm[h])));
          if (p + 1 < P) addTo(p + 1, g, _mm512_add_epi64(hi[h], _mm512_and_si512(word(g, w + 3 + p), tm[h])));
        }
      }
      // The seed and control bit move to the child, corrected where t is set.
      for (int h = 0; h < 2; ++h) {
        const int g = g0 + h;
        __m512i chLo, chHi;
        wordsOf(c[2 * h], c[2 * h + 1], chLo, chHi);
        childStep(word(g, w), word(g, w + 1), rc[g], level, right[h], chLo, chHi, tm[h], sLo[g], sHi[g], t[g]);
      }
    }
  }
  // Outputs: Convert_0 = the seed's hi word, Convert_p (p >= 1) = word (p - 1) mod 2 of
  // H_Value2(s xor (0 || (p - 1) / 2)); plus the accumulators and the final corrections where t
  // is set; party 1's shares negated (y0 + y1 = V0 - V1). Rows of y are P words apart.
  const __m512i pm = _mm512_set1_epi64(-static_cast<long long>(a.party & 1));
  const long long r = P;
  const __m512i rows = _mm512_set_epi64(7 * r, 6 * r, 5 * r, 4 * r, 3 * r, 2 * r, r, 0);
  const int64_t fw = dcfFinalWord(bits, P, 0);
  const auto put = [&](int g, int64_t p, __m512i conv, __m512i tm) {
    const __m512i v = _mm512_add_epi64(_mm512_add_epi64(_mm512_loadu_si512(accAt(p, g)), conv), _mm512_and_si512(word(g, fw + p), tm));
    _mm512_mask_i64scatter_epi64(reinterpret_cast<long long*>(y + (first + g * kLanes) * P + p), 0xFF, rows, _mm512_sub_epi64(_mm512_xor_si512(v, pm), pm), 8);
  };
  const __mmask8 none[4] = {0, 0, 0, 0};
  for (int g0 = 0; g0 < kGroups; g0 += 2) {
    __m512i tm[2];
    for (int h = 0; h < 2; ++h) {
      tm[h] = _mm512_sub_epi64(zero, t[g0 + h]);
      put(g0 + h, 0, sHi[g0 + h], tm[h]);
    }
    for (int64_t q = 0; q < P / 2; ++q) {
      __m512i lo[2], hi[2];
      valueWords(conv, sLo, sHi, g0, q, none, lo, hi);
      for (int h = 0; h < 2; ++h) {
        put(g0 + h, 2 * q + 1, lo[h], tm[h]);
        if (2 * q + 2 < P) put(g0 + h, 2 * q + 2, hi[h], tm[h]);
      }
    }
  }
}

#pragma GCC pop_options

#else
bool dcfKeygenManyWideAvailable() { return false; }
void dcfKeygenManyBatchWide(const DcfKeygenArgs&, int, int64_t, int64_t, const uint64_t*, const uint64_t*, uint64_t*, uint64_t*) { throw "unreachable"; }
bool dcfEvalManyWideAvailable(AesImpl) { return false; }
void dcfEvalManyBatchWide(const DcfEvalArgs&, int, int64_t, const uint64_t*, const uint64_t*, uint64_t*, int64_t) { throw "unreachable"; }
#endif

}  // namespace fss
}  // namespace tfe
