// AVX-512 version of the DCF evaluation's walk (dcf_eval.cc): the AES expansions stay in the
// fixed-key hash (fixed_key_aes_ni.cc); what this vectorises is the rest of each level, which
// took over half of an evaluation as scalar code (about 40 instructions per element and level:
// the correction-word loads, the control-bit masks, the value accumulators). Eight elements per
// register, one key tile (dcf.h) per register: a key word of eight elements is one load.
// Compiled for AVX-512F only inside the target region, reached only when the CPU has it. Where
// VAES is there too (and impl is auto), dcfEvalBatchVaes below takes over: the same walk with the
// AES in registers too (fss/vaes_blocks.h), 22% faster on Zen 4; this one stays for AVX-512 CPUs
// without VAES and for impl 'aesni', which the tests compare against it.
#include "fss/dcf_eval_avx512.h"

#include <immintrin.h>

#include <algorithm>

#include "core/cpu_features.h"
#include "fss/dcf.h"
#include "fss/fixed_key_aes.h"

namespace tfe {
namespace fss {

bool dcfEvalWideAvailable() { return cpuFeatures().avx512; }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f")
#include "fss/avx512_blocks.h"

namespace {

constexpr int kGroups = kDcfEvalBatch / kLanes;

// A full batch's key tiles (dcf.h "Tiles"): group g's tile starts at its first element's K words
// and holds a key word of its eight elements in one 64-byte line, so a level reads 2 + P lines
// per group, one after another. Four such streams per batch are what the hardware prefetcher
// follows; the next batch's first lines are fetched while this one runs. Keys from the offline
// pool arrive long before they are read, so they come from DRAM: each level fetches the lines
// kAhead levels on (past the tile's end, the next batch's first ones).
template <int P>
struct BatchTiles {
  static constexpr int kAhead = 4;
  const uint64_t* tile[kGroups];
  int64_t K;
  bool hasNext;
  BatchTiles(const uint64_t* keys, int64_t first, int bits, int64_t end) : K(dcfKeyWords(bits, P)), hasNext(first + 2 * kDcfEvalBatch <= end) {
    for (int g = 0; g < kGroups; ++g) tile[g] = keys + (first + g * kLanes) * K;
  }
  __m512i word(int g, int64_t w) const { return _mm512_loadu_si512(tile[g] + w * kLanes); }
  // At level `level`: the lines kAhead levels on.
  void prefetchFor(int level) const { prefetchTileWords<kGroups>(tile, K, kDcfEvalBatch * K, hasNext, dcfLevelWord(level, P) + kAhead * (2 + P), 2 + P); }
};

// What a walk carries besides the seeds: x (its domain bits), the control bits t (the party's at
// the root), the right control words and the payloads' accumulators.
template <int P>
struct WalkState {
  __m512i x[kGroups], t[kGroups], rc[kGroups], acc[P][kGroups];
  WalkState(const DcfEvalArgs& a, const BatchTiles<P>& tiles, const uint64_t* xIn, int64_t first) {
    const __m512i domain = _mm512_set1_epi64(static_cast<long long>(dcfDomainMask(a.bits)));
    for (int g = 0; g < kGroups; ++g) {
      t[g] = _mm512_set1_epi64(static_cast<long long>(a.party));
      x[g] = _mm512_and_si512(_mm512_loadu_si512(xIn + first + g * kLanes), domain);
      rc[g] = tiles.word(g, dcfRightControlWord(a.bits, P));
      for (int p = 0; p < P; ++p) acc[p][g] = _mm512_setzero_si512();
    }
  }
};

// One level of group g after its hashes: from the child block x's bit picked (chLo, chHi, word
// form) and the value block (vLo, vHi: one payload, both children's values; two, both payloads'
// for that child), the correction words for that side where t is set; moves the seed (sLo, with
// the control bit cleared, and sHi), t and the accumulators to the child.
template <int P>
inline void levelStep(const BatchTiles<P>& tiles, WalkState<P>& st, int g, int level, __mmask8 right, __m512i chLo, __m512i chHi, __m512i vLo, __m512i vHi,
                      __m512i& sLo, __m512i& sHi) {
  const int64_t w = dcfLevelWord(level, P);
  const __m512i tm = _mm512_sub_epi64(_mm512_setzero_si512(), st.t[g]);
  if (P == 1) {
    const __m512i v = _mm512_mask_blend_epi64(right, vLo, vHi);
    st.acc[0][g] = _mm512_add_epi64(st.acc[0][g], _mm512_add_epi64(v, _mm512_and_si512(tiles.word(g, w + 2), tm)));
  } else {
    st.acc[0][g] = _mm512_add_epi64(st.acc[0][g], _mm512_add_epi64(vLo, _mm512_and_si512(tiles.word(g, w + 2), tm)));
    st.acc[P - 1][g] = _mm512_add_epi64(st.acc[P - 1][g], _mm512_add_epi64(vHi, _mm512_and_si512(tiles.word(g, w + 3), tm)));
  }
  childStep(tiles.word(g, w), tiles.word(g, w + 1), st.rc[g], level, right, chLo, chHi, tm, sLo, sHi, st.t[g]);
}

// The outputs from the final seeds s: Convert_0(seed) = its hi word, Convert_1(seed) =
// H_Value2(seed).lo (dcf.h), plus the accumulators and the final corrections where t is set;
// party 1's shares negated (y0 + y1 = V0 - V1).
template <int P>
void walkOutputs(const DcfEvalArgs& a, const BatchTiles<P>& tiles, const Block* s, const WalkState<P>& st, int64_t first, uint64_t* const* y) {
  alignas(64) Block V[kDcfEvalBatch];
  if (P > 1) hashBlocks(HashKey::Value2, s, V, kDcfEvalBatch, a.impl);
  const __m512i zero = _mm512_setzero_si512(), pm = _mm512_set1_epi64(-static_cast<long long>(a.party & 1));
  for (int g = 0; g < kGroups; ++g) {
    __m512i sLo, sHi, vLo = zero, vHi;
    splitBlocks(s + g * kLanes, sLo, sHi);
    if (P > 1) splitBlocks(V + g * kLanes, vLo, vHi);
    const __m512i tm = _mm512_sub_epi64(zero, st.t[g]);
    for (int p = 0; p < P; ++p) {
      const __m512i conv = p == 0 ? sHi : vLo;
      const __m512i v = _mm512_add_epi64(_mm512_add_epi64(st.acc[p][g], conv), _mm512_and_si512(tiles.word(g, dcfFinalWord(a.bits, P, p)), tm));
      _mm512_storeu_si512(y[p] + first + g * kLanes, _mm512_sub_epi64(_mm512_xor_si512(v, pm), pm));
    }
  }
}

}  // namespace

template <int P>
void dcfEvalBatchWide(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* xIn, uint64_t* const* y,
                      int64_t end) {
  const BatchTiles<P> tiles(keys, first, a.bits, end);
  WalkState<P> st(a, tiles, xIn, first);
  alignas(64) Block s[kDcfEvalBatch], V[kDcfEvalBatch], child[kDcfEvalBatch];
  alignas(64) uint8_t dir[kDcfEvalBatch];
  for (int g = 0; g < kGroups; ++g) joinBlocks(s + g * kLanes, tiles.word(g, 0), tiles.word(g, 1));
  for (int level = 0; level < a.bits; ++level) {
    const int shift = a.bits - 1 - level;
    tiles.prefetchFor(level);
    const __m512i bit = _mm512_set1_epi64(static_cast<long long>(uint64_t(1) << shift));
    for (int g = 0; g < kGroups; ++g)
      _mm_storel_epi64(reinterpret_cast<__m128i*>(dir + g * kLanes), _mm512_maskz_cvtepi64_epi8(0xFF, _mm512_maskz_srlv_epi64(0xFF, _mm512_and_si512(st.x[g], bit), _mm512_set1_epi64(shift))));
    // One payload: H_Value holds both children's values; two: the value block of the child x
    // takes (H_Value left, H_Value2 right) holds both payloads' (dcf.h).
    if (P == 1) hashBlocks(HashKey::Value, s, V, kDcfEvalBatch, a.impl);
    else hashEither(HashKey::Value, HashKey::Value2, s, dir, V, kDcfEvalBatch, a.impl);
    hashChildren(s, dir, child, kDcfEvalBatch, a.impl);
    for (int g = 0; g < kGroups; ++g) {
      __m512i chLo, chHi, vLo, vHi, sLo, sHi;
      splitBlocks(child + g * kLanes, chLo, chHi);
      splitBlocks(V + g * kLanes, vLo, vHi);
      levelStep<P>(tiles, st, g, level, _mm512_test_epi64_mask(st.x[g], bit), chLo, chHi, vLo, vHi, sLo, sHi);
      joinBlocks(s + g * kLanes, sLo, sHi);
    }
  }
  walkOutputs<P>(a, tiles, s, st, first, y);
}

// Instantiated inside the target region (outside it, the intrinsics would not inline).
template void dcfEvalBatchWide<1>(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t);
template void dcfEvalBatchWide<2>(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t);

#pragma GCC pop_options

// The same walk with the AES in registers (VAES): the seeds stay as lo and hi word vectors from
// level to level, and each level's two expansions (the value block and the child x's bit picks)
// run on blocks made by two unpacks (lanes of elements 0, 2, 4, 6 and of 1, 3, 5, 7), so no block
// array is stored, reloaded or permuted between the hash and the bookkeeping.
#pragma GCC push_options
#pragma GCC target("avx512f,aes,vaes")

#include "fss/vaes_blocks.h"

bool dcfEvalVaesAvailable(AesImpl impl) { return cpuFeatures().avx512 && useVaes(impl); }

template <int P>
void dcfEvalBatchVaes(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* xIn, uint64_t* const* y, int64_t end) {
  const BatchTiles<P> tiles(keys, first, a.bits, end);
  WalkState<P> st(a, tiles, xIn, first);
  static const PairKeys child(HashKey::Left, HashKey::Right);
  // One payload: H_Value holds both children's values, whichever side x takes (the same key twice:
  // a blend of two equal keys is the key).
  static const PairKeys value(HashKey::Value, P == 1 ? HashKey::Value : HashKey::Value2);
  __m512i sLo[kGroups], sHi[kGroups];
  for (int g = 0; g < kGroups; ++g) sLo[g] = tiles.word(g, 0), sHi[g] = tiles.word(g, 1);
  for (int level = 0; level < a.bits; ++level) {
    tiles.prefetchFor(level);
    const __m512i bit = _mm512_set1_epi64(static_cast<long long>(uint64_t(1) << (a.bits - 1 - level)));
    // Two groups at a time: eight registers of AES in flight (two hashes of two registers each).
    for (int g0 = 0; g0 < kGroups; g0 += 2) {
      __m512i in[4], c[4], v[4];
      __mmask8 m[4], right[2];
      for (int h = 0; h < 2; ++h) {
        right[h] = _mm512_test_epi64_mask(st.x[g0 + h], bit);
        sigmaBlocks(sLo[g0 + h], sHi[g0 + h], in[2 * h], in[2 * h + 1]);
        m[2 * h] = kSpread.even[right[h]], m[2 * h + 1] = kSpread.odd[right[h]];
      }
      hashRegistersTwo<4>(child, value, in, m, c, v);
      for (int h = 0; h < 2; ++h) {
        __m512i chLo, chHi, vLo, vHi;
        wordsOf(c[2 * h], c[2 * h + 1], chLo, chHi);
        wordsOf(v[2 * h], v[2 * h + 1], vLo, vHi);
        levelStep<P>(tiles, st, g0 + h, level, right[h], chLo, chHi, vLo, vHi, sLo[g0 + h], sHi[g0 + h]);
      }
    }
  }
  alignas(64) Block s[kDcfEvalBatch];
  for (int g = 0; g < kGroups; ++g) joinBlocks(s + g * kLanes, sLo[g], sHi[g]);
  walkOutputs<P>(a, tiles, s, st, first, y);
}

template void dcfEvalBatchVaes<1>(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t);
template void dcfEvalBatchVaes<2>(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t);

#pragma GCC pop_options

#else
bool dcfEvalVaesAvailable(AesImpl) { return false; }
template <int P>
void dcfEvalBatchVaes(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t) {
  throw "unreachable";
}
template void dcfEvalBatchVaes<1>(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t);
template void dcfEvalBatchVaes<2>(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t);
template <int P>
void dcfEvalBatchWide(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t) {
  throw "unreachable";
}
template void dcfEvalBatchWide<1>(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t);
template void dcfEvalBatchWide<2>(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t* const*, int64_t);
#endif

}  // namespace fss
}  // namespace tfe
