// AVX-512 version of the DCF key generation's walk (dcf_keygen.cc). The AES expansions stay in
// the fixed-key hash; what this vectorises is the rest of each level (the children's split into
// seed and control bit, the selections on alpha's bit, the correction words, the value
// bookkeeping), which was over half of key generation as scalar code. Eight elements per
// register, both parties' seeds side by side; a level's correction words go to a staging buffer
// and are streamed into the key tiles (dcf.h "Tiles": one 64-byte line per word of eight
// elements) once the walk is done, party 1's tiles being party 0's but for the root seeds. Selections stay masks, as in the scalar walk: the dealer's
// timing does not depend on alpha.
#include "fss/dcf_keygen_avx512.h"

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "core/cpu_features.h"
#include "fss/dcf.h"
#include "fss/fixed_key_aes.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {

bool dcfKeygenWideAvailable() { return cpuFeatures().avx512; }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f")
#include "fss/avx512_blocks.h"

namespace {

constexpr int kGroups = kDcfKeygenBatch / kLanes;

// (-1)^t * v, t in {0, 1} per lane.
inline __m512i signBy(__m512i t, __m512i v) {
  const __m512i m = _mm512_sub_epi64(_mm512_setzero_si512(), t);
  return _mm512_sub_epi64(_mm512_xor_si512(v, m), m);
}

}  // namespace

template <int P>
void dcfKeygenBatchWide(const DcfKeygenArgs& a, int64_t first, const uint64_t* alphaIn, const uint64_t* const* betaIn, uint64_t* key0,
                        uint64_t* key1) {
  constexpr int N = kDcfKeygenBatch;
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits, P);
  const int W = 2 + P;  // words per level
  const __m512i one = _mm512_set1_epi64(1), notOne = _mm512_set1_epi64(~1LL), zero = _mm512_setzero_si512();
  const __m512i domain = _mm512_set1_epi64(static_cast<long long>(dcfDomainMask(bits)));
  alignas(64) Block s[2 * N], L[2 * N], R[2 * N], V[P][2 * N];
  // The levels' words, [level][word][element of the batch], streamed into the key tiles at the end.
  alignas(64) uint64_t stage[kDcfMaxBits][4][N];
  __m512i t0[kGroups], t1[kGroups], alpha[kGroups], valpha[P][kGroups], tRight[kGroups];
  const HashKey valueKey[2] = {HashKey::Value, HashKey::Value2};
  alignas(64) Block roots[2 * N];
  aesCtrBlocks(a.prgKey, a.iv, 2 * (a.first + static_cast<uint64_t>(first)), 2 * N, reinterpret_cast<uint8_t*>(s), a.impl);
  std::memcpy(roots, s, sizeof(roots));
  for (int g = 0; g < kGroups; ++g) {
    t0[g] = zero, t1[g] = one, tRight[g] = zero;
    alpha[g] = _mm512_and_si512(_mm512_loadu_si512(alphaIn + first + g * kLanes), domain);
    for (int p = 0; p < P; ++p) valpha[p][g] = zero;
  }
  for (int level = 0; level < bits; ++level) {
    hashBlocks(HashKey::Left, s, L, 2 * N, a.impl);
    hashBlocks(HashKey::Right, s, R, 2 * N, a.impl);
    for (int p = 0; p < P; ++p) hashBlocks(valueKey[p], s, V[p], 2 * N, a.impl);
    const int shift = bits - 1 - level;
    const __m512i shiftV = _mm512_set1_epi64(shift), levelV = _mm512_set1_epi64(level);
    for (int g = 0; g < kGroups; ++g) {
      const int o = 2 * g * kLanes;  // first block of the group
      const __m512i abit = _mm512_and_si512(_mm512_maskz_srlv_epi64(0xFF, alpha[g], shiftV), one);
      const __mmask8 am = _mm512_test_epi64_mask(abit, one);  // set: alpha's bit is 1, keep is the right child
      const Pair l = split(L + o), r = split(R + o);
      // Child values: one payload, V[0] = (left, right) of the child pair; two, V[side] =
      // (payload 0, payload 1) of that side's child (dcf.h).
      Pair v[P];
      for (int p = 0; p < P; ++p) v[p] = split(V[p] + o);
      for (int p = 0; p < P; ++p) {
        __m512i left0, right0, left1, right1;
        if (P == 1) left0 = v[0].lo0, right0 = v[0].hi0, left1 = v[0].lo1, right1 = v[0].hi1;
        else if (p == 0) left0 = v[0].lo0, right0 = v[1].lo0, left1 = v[0].lo1, right1 = v[1].lo1;
        else left0 = v[0].hi0, right0 = v[1].hi0, left1 = v[0].hi1, right1 = v[1].hi1;
        const __m512i keep0 = _mm512_mask_blend_epi64(am, left0, right0), keep1 = _mm512_mask_blend_epi64(am, left1, right1);
        const __m512i lose0 = _mm512_mask_blend_epi64(am, right0, left0), lose1 = _mm512_mask_blend_epi64(am, right1, left1);
        // The lost child's shares must sum to beta when it lies left of alpha, to 0 when right.
        __m512i vcw = signBy(t1[g], _mm512_sub_epi64(_mm512_sub_epi64(lose1, lose0), valpha[p][g]));
        const __m512i beta = _mm512_loadu_si512(betaIn[p] + first + g * kLanes);
        vcw = _mm512_add_epi64(vcw, _mm512_maskz_mov_epi64(am, signBy(t1[g], beta)));
        valpha[p][g] = _mm512_add_epi64(_mm512_sub_epi64(valpha[p][g], keep1), _mm512_add_epi64(keep0, signBy(t1[g], vcw)));
        _mm512_storeu_si512(&stage[level][2 + p][g * kLanes], vcw);
      }
      // The seeds move after the values: those used the control bit t1 of this level.
      const SeedStep st = seedStep(l, r, abit, am, notOne, s + o, t0[g], t1[g]);
      _mm512_storeu_si512(&stage[level][0][g * kLanes], _mm512_or_si512(st.cwLo, st.tCWL));
      _mm512_storeu_si512(&stage[level][1][g * kLanes], st.cwHi);
      tRight[g] = _mm512_or_si512(tRight[g], _mm512_maskz_sllv_epi64(0xFF, st.tCWR, levelV));
    }
  }
  // Convert_0(seed) = hi word (the lo word's bit 0 was cleared for the control bit);
  // Convert_1(seed) = H_Value2(seed).lo.
  if (P > 1) hashBlocks(HashKey::Value2, s, V[P - 1], 2 * N, a.impl);
  alignas(64) uint64_t rightWord[N], finals[P][N];
  for (int g = 0; g < kGroups; ++g) {
    const int o = 2 * g * kLanes;
    const Pair sp = split(s + o);
    Pair vp{};
    if (P > 1) vp = split(V[P - 1] + o);
    _mm512_storeu_si512(rightWord + g * kLanes, tRight[g]);
    for (int p = 0; p < P; ++p) {
      const __m512i c0 = p == 0 ? sp.hi0 : vp.lo0, c1 = p == 0 ? sp.hi1 : vp.lo1;
      _mm512_storeu_si512(finals[p] + g * kLanes, signBy(t1[g], _mm512_sub_epi64(_mm512_sub_epi64(c1, c0), valpha[p][g])));
    }
  }
  // The tiles (dcf.h "Tiles"): a full batch is four whole tiles, and each key word of a tile is
  // one 64-byte line, streamed to both keys (party 1's differ only in the root seed words). A
  // batch's keys are far larger than the caches at the sizes that matter (a batch-128 query's are
  // gigabytes), and plain stores would read every line before writing it.
  for (int g = 0; g < kGroups; ++g) {
    uint64_t *t0w = key0 + (first + g * kLanes) * K, *t1w = key1 + (first + g * kLanes) * K;
    const Pair root = split(roots + 2 * g * kLanes);
    putLine(t0w, root.lo0), putLine(t0w + kLanes, root.hi0);
    putLine(t1w, root.lo1), putLine(t1w + kLanes, root.hi1);
    for (int level = 0; level < bits; ++level)
      for (int q = 0; q < W; ++q) {
        const __m512i v = _mm512_load_si512(&stage[level][q][g * kLanes]);
        const int64_t at = (dcfLevelWord(level, P) + q) * kLanes;
        putLine(t0w + at, v), putLine(t1w + at, v);
      }
    const __m512i rw = _mm512_load_si512(rightWord + g * kLanes);
    putLine(t0w + dcfRightControlWord(bits, P) * kLanes, rw), putLine(t1w + dcfRightControlWord(bits, P) * kLanes, rw);
    for (int p = 0; p < P; ++p) {
      const __m512i f = _mm512_load_si512(finals[p] + g * kLanes);
      putLine(t0w + dcfFinalWord(bits, P, p) * kLanes, f), putLine(t1w + dcfFinalWord(bits, P, p) * kLanes, f);
    }
  }
  _mm_sfence();
  // Wipe the walk's secrets from the stack (the dealer's alpha path is in them).
  for (Block* b : {s, roots}) {
    volatile uint64_t* wipe = reinterpret_cast<volatile uint64_t*>(b);
    for (size_t i = 0; i < 4 * static_cast<size_t>(N); ++i) wipe[i] = 0;
  }
}

// Instantiated inside the target region (outside it, the intrinsics would not inline).
template void dcfKeygenBatchWide<1>(const DcfKeygenArgs&, int64_t, const uint64_t*, const uint64_t* const*, uint64_t*, uint64_t*);
template void dcfKeygenBatchWide<2>(const DcfKeygenArgs&, int64_t, const uint64_t*, const uint64_t* const*, uint64_t*, uint64_t*);

#pragma GCC pop_options

#else
template <int P>
void dcfKeygenBatchWide(const DcfKeygenArgs&, int64_t, const uint64_t*, const uint64_t* const*, uint64_t*, uint64_t*) {
  throw "unreachable";
}
template void dcfKeygenBatchWide<1>(const DcfKeygenArgs&, int64_t, const uint64_t*, const uint64_t* const*, uint64_t*, uint64_t*);
template void dcfKeygenBatchWide<2>(const DcfKeygenArgs&, int64_t, const uint64_t*, const uint64_t* const*, uint64_t*, uint64_t*);
#endif

}  // namespace fss
}  // namespace tfe
