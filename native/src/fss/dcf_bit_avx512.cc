// AVX-512 versions of the one-bit DCF's walks (dcf_bit.cc, layout in dcf_bit.h). As in the 64-bit
// DCF's wide walks (dcf_eval_avx512.cc, dcf_keygen_avx512.cc), the AES stays in the fixed-key
// hash and what runs eight lanes wide is the rest of each level: the children's split into seed,
// control and value bits, the selections on alpha's bit (masks, not branches: the dealer's timing
// does not depend on alpha), the correction words; keygen stages a level's words and streams the
// key tiles at the end (dcf.h "Tiles"), evaluation loads a level's words of eight elements as one
// line each. Where VAES is there (impl auto), the evaluation is dcfBitEvalBatchVaes below, with
// the AES in registers too (fss/vaes_blocks.h).
#include "fss/dcf_bit_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/cpu_features.h"
#include "fss/dcf.h"
#include "fss/dcf_bit.h"
#include "fss/fixed_key_aes.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {

bool dcfBitWideAvailable() { return cpuFeatures().avx512; }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f")
#include "fss/avx512_blocks.h"

namespace {
constexpr int kGroups = kDcfBitBatch / kLanes;

// An evaluation batch's key tiles (dcf.h "Tiles": group g's words are lines of eight elements);
// each level fetches the lines kAhead levels on (past the tile's end, the next batch's first
// ones), as dcf_eval_avx512.cc does.
struct BitTiles {
  static constexpr int kAhead = 8;
  const uint64_t* tile[kGroups];
  int64_t K;
  bool hasNext;
  BitTiles(const uint64_t* keys, int64_t first, int bits, int64_t end) : K(dcfBitKeyWords(bits)), hasNext(first + 2 * kDcfBitBatch <= end) {
    for (int g = 0; g < kGroups; ++g) tile[g] = keys + (first + g * kLanes) * K;
  }
  __m512i word(int g, int64_t w) const { return _mm512_loadu_si512(tile[g] + w * kLanes); }
  void prefetchFor(int level) const { prefetchTileWords<kGroups>(tile, K, kDcfBitBatch * K, hasNext, dcfBitLevelWord(level) + 2 * kAhead, 2); }
};

// An evaluation's state besides the seeds: x (its domain bits), the control bits t, the output
// bits v (from the party's offset share in the root word) and the value-correction words.
struct BitWalk {
  __m512i x[kGroups], t[kGroups], v[kGroups], vw[kGroups];
  // Also the root seeds, as words.
  BitWalk(const DcfEvalArgs& a, const BitTiles& tiles, const uint64_t* xIn, int64_t first, __m512i* sLo, __m512i* sHi) {
    const __m512i domain = _mm512_set1_epi64(static_cast<long long>(dcfDomainMask(a.bits))), one = _mm512_set1_epi64(1);
    for (int g = 0; g < kGroups; ++g) {
      const __m512i root = tiles.word(g, 0);
      sLo[g] = _mm512_and_si512(root, _mm512_set1_epi64(static_cast<long long>(kDcfBitSeedMask))), sHi[g] = tiles.word(g, 1);
      t[g] = _mm512_set1_epi64(static_cast<long long>(a.party & 1));
      v[g] = _mm512_and_si512(root, one);  // the output starts at the party's offset share
      x[g] = _mm512_and_si512(_mm512_loadu_si512(xIn + first + g * kLanes), domain);
      vw[g] = tiles.word(g, dcfBitValueWord(a.bits));
    }
  }

  // One level of group g after its hash: from the child block x's bit picked (chLo, chHi), the
  // value bit and the corrections for that side where t is set; moves the seed, t and v on.
  void step(const BitTiles& tiles, int g, int level, __mmask8 right, __m512i chLo, __m512i chHi, __m512i& sLo, __m512i& sHi) {
    const __m512i one = _mm512_set1_epi64(1), seedMask = _mm512_set1_epi64(static_cast<long long>(kDcfBitSeedMask));
    const int64_t w = dcfBitLevelWord(level);
    const __m512i tm = _mm512_sub_epi64(_mm512_setzero_si512(), t[g]);
    const __m512i cw0 = tiles.word(g, w), cw1 = tiles.word(g, w + 1);
    // This side's control correction: bit 0 (left) or bit 1 (right) of the level's lo word.
    const __m512i tcw = _mm512_and_si512(_mm512_mask_srli_epi64(cw0, right, cw0, 1), one);
    const __m512i vcw = _mm512_and_si512(_mm512_maskz_srlv_epi64(0xFF, vw[g], _mm512_set1_epi64(level)), one);
    v[g] = _mm512_xor_si512(v[g], _mm512_xor_si512(_mm512_and_si512(_mm512_maskz_srli_epi64(0xFF, chLo, 1), one), _mm512_and_si512(vcw, t[g])));
    const __m512i tNext = _mm512_xor_si512(_mm512_and_si512(chLo, one), _mm512_and_si512(tcw, t[g]));
    const __m512i cLo = _mm512_xor_si512(chLo, _mm512_and_si512(_mm512_and_si512(cw0, seedMask), tm));
    sHi = _mm512_xor_si512(chHi, _mm512_and_si512(cw1, tm));
    sLo = _mm512_and_si512(cLo, seedMask);
    t[g] = tNext;
  }

  // The outputs from the final seeds s: each leaf block, corrected where t is set, read at x's
  // low bits, added to v.
  void outputs(const DcfEvalArgs& a, const BitTiles& tiles, const Block* s, int64_t first, uint8_t* y) const {
    alignas(64) Block leaves[kDcfBitBatch];
    hashBlocks(HashKey::Value, s, leaves, kDcfBitBatch, a.impl);
    const int64_t lw = dcfBitLeafWord(a.bits);
    const __m512i one = _mm512_set1_epi64(1), zero = _mm512_setzero_si512();
    const __m512i leafMask = _mm512_set1_epi64(static_cast<long long>(dcfBitLeafMask(a.bits))), s64 = _mm512_set1_epi64(64);
    for (int g = 0; g < kGroups; ++g) {
      __m512i hLo, hHi;
      splitBlocks(leaves + g * kLanes, hLo, hHi);
      const __m512i tm = _mm512_sub_epi64(zero, t[g]);
      const __m512i lo = _mm512_xor_si512(hLo, _mm512_and_si512(tiles.word(g, lw), tm));
      const __m512i hi = _mm512_xor_si512(hHi, _mm512_and_si512(tiles.word(g, lw + 1), tm));
      const __m512i i = _mm512_and_si512(x[g], leafMask);
      const __mmask8 upper = _mm512_cmpge_epu64_mask(i, s64);
      const __m512i leaf = _mm512_mask_blend_epi64(upper, _mm512_maskz_srlv_epi64(0xFF, lo, i), _mm512_maskz_srlv_epi64(0xFF, hi, _mm512_sub_epi64(i, s64)));
      const __m512i out = _mm512_and_si512(_mm512_xor_si512(v[g], leaf), one);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(y + first + g * kLanes), _mm512_maskz_cvtepi64_epi8(0xFF, out));
    }
  }
};
}  // namespace

void dcfBitKeygenBatchWide(const DcfKeygenArgs& a, int64_t first, const uint64_t* alphaIn, const uint64_t* offsetIn, uint64_t* key0,
                           uint64_t* key1) {
  constexpr int N = kDcfBitBatch;
  const int bits = a.bits;
  const int64_t K = dcfBitKeyWords(bits);
  const __m512i one = _mm512_set1_epi64(1), seedMask = _mm512_set1_epi64(static_cast<long long>(kDcfBitSeedMask)), zero = _mm512_setzero_si512();
  const __m512i domain = _mm512_set1_epi64(static_cast<long long>(dcfDomainMask(bits)));
  alignas(64) Block s[2 * N], L[2 * N], R[2 * N], roots[2 * N];
  // The levels' seed words, [level][lo/hi][element of the batch], streamed into the tiles at the end.
  alignas(64) uint64_t stage[kDcfMaxBits][2][N];
  __m512i t0[kGroups], t1[kGroups], alpha[kGroups], vAlpha[kGroups], vcws[kGroups];
  aesCtrBlocks(a.prgKey, a.iv, 2 * (a.first + static_cast<uint64_t>(first)), 2 * N, reinterpret_cast<uint8_t*>(roots), a.impl);
  for (int g = 0; g < kGroups; ++g) {
    const int o = 2 * g * kLanes;
    const Pair r = split(roots + o);
    join(s + o, _mm512_and_si512(r.lo0, seedMask), r.hi0, _mm512_and_si512(r.lo1, seedMask), r.hi1);
    t0[g] = zero, t1[g] = one, vAlpha[g] = zero, vcws[g] = zero;
    alpha[g] = _mm512_and_si512(_mm512_loadu_si512(alphaIn + first + g * kLanes), domain);
  }
  const int levels = static_cast<int>(dcfBitLevels(bits));
  for (int level = 0; level < levels; ++level) {
    hashBlocks(HashKey::Left, s, L, 2 * N, a.impl);
    hashBlocks(HashKey::Right, s, R, 2 * N, a.impl);
    const __m512i shiftV = _mm512_set1_epi64(bits - 1 - level), levelV = _mm512_set1_epi64(level);
    for (int g = 0; g < kGroups; ++g) {
      const int o = 2 * g * kLanes;
      const __m512i abit = _mm512_and_si512(_mm512_maskz_srlv_epi64(0xFF, alpha[g], shiftV), one);
      const __mmask8 am = _mm512_test_epi64_mask(abit, one);  // set: alpha's bit is 1, keep is the right child
      const Pair l = split(L + o), r = split(R + o);
      // The value correction (dcf_bit.h's dcfBitKeygenLevel): value bits are bit 1 of each child.
      const __m512i vL = _mm512_and_si512(_mm512_maskz_srli_epi64(0xFF, _mm512_xor_si512(l.lo0, l.lo1), 1), one);
      const __m512i vR = _mm512_and_si512(_mm512_maskz_srli_epi64(0xFF, _mm512_xor_si512(r.lo0, r.lo1), 1), one);
      const __m512i vKeep = _mm512_mask_blend_epi64(am, vL, vR), vLose = _mm512_mask_blend_epi64(am, vR, vL);
      const __m512i vcw = _mm512_xor_si512(_mm512_xor_si512(vLose, vAlpha[g]), abit);
      vAlpha[g] = _mm512_xor_si512(vAlpha[g], _mm512_xor_si512(vKeep, vcw));
      vcws[g] = _mm512_or_si512(vcws[g], _mm512_maskz_sllv_epi64(0xFF, vcw, levelV));
      const SeedStep st = seedStep(l, r, abit, am, seedMask, s + o, t0[g], t1[g]);
      _mm512_storeu_si512(&stage[level][0][g * kLanes], _mm512_or_si512(st.cwLo, _mm512_or_si512(st.tCWL, _mm512_maskz_slli_epi64(0xFF, st.tCWR, 1))));
      _mm512_storeu_si512(&stage[level][1][g * kLanes], st.cwHi);
    }
  }
  // The leaf corrections (dcf_bit.h's dcfBitKeygenLeaf) from both parties' leaf blocks (into L),
  // and the root words (dcf_bit.h's dcfBitKeygenRoot): the drawn blocks' lo words, party 0's as
  // drawn (its bit 0 is its offset share) and party 1's with w xor that bit in bit 0.
  hashBlocks(HashKey::Value, s, L, 2 * N, a.impl);
  const __m512i leafMask = _mm512_set1_epi64(static_cast<long long>(dcfBitLeafMask(bits)));
  const __m512i s64 = _mm512_set1_epi64(64), ones = _mm512_set1_epi64(-1);
  alignas(64) uint64_t root0[N], root1[N], valueWord[N], leafLo[N], leafHi[N];
  for (int g = 0; g < kGroups; ++g) {
    const int o = 2 * g * kLanes;
    const Pair h = split(L + o), r = split(roots + o);
    // [i < aLow] for i < 64 (lo) and 64 <= i < 128 (hi): a shift by 64 or more gives 0, so lo is
    // all ones from aLow = 64 on; hi is zero up to aLow = 64.
    const __m512i aLow = _mm512_and_si512(alpha[g], leafMask);
    const __m512i lessLo = _mm512_sub_epi64(_mm512_maskz_sllv_epi64(0xFF, one, aLow), one);
    const __mmask8 upper = _mm512_cmpge_epu64_mask(aLow, s64);
    const __m512i lessHi = _mm512_maskz_sub_epi64(upper, _mm512_maskz_sllv_epi64(0xFF, one, _mm512_sub_epi64(aLow, s64)), one);
    const __m512i v = _mm512_maskz_mov_epi64(_mm512_test_epi64_mask(vAlpha[g], one), ones);
    _mm512_storeu_si512(leafLo + g * kLanes, _mm512_xor_si512(_mm512_xor_si512(h.lo0, h.lo1), _mm512_xor_si512(lessLo, v)));
    _mm512_storeu_si512(leafHi + g * kLanes, _mm512_xor_si512(_mm512_xor_si512(h.hi0, h.hi1), _mm512_xor_si512(lessHi, v)));
    const __m512i w0 = _mm512_and_si512(r.lo0, one), w = _mm512_and_si512(_mm512_loadu_si512(offsetIn + first + g * kLanes), one);
    _mm512_storeu_si512(root0 + g * kLanes, r.lo0);
    _mm512_storeu_si512(root1 + g * kLanes, _mm512_or_si512(_mm512_and_si512(r.lo1, _mm512_set1_epi64(~1LL)), _mm512_xor_si512(w, w0)));
    _mm512_storeu_si512(valueWord + g * kLanes, vcws[g]);
  }
  // The tiles (dcf.h "Tiles"), streamed to both keys a 64-byte line at a time (see
  // dcf_keygen_avx512.cc for why); party 1's differ only in the root words.
  for (int g = 0; g < kGroups; ++g) {
    uint64_t *t0w = key0 + (first + g * kLanes) * K, *t1w = key1 + (first + g * kLanes) * K;
    const Pair r = split(roots + 2 * g * kLanes);
    putLine(t0w, _mm512_load_si512(root0 + g * kLanes)), putLine(t0w + kLanes, r.hi0);
    putLine(t1w, _mm512_load_si512(root1 + g * kLanes)), putLine(t1w + kLanes, r.hi1);
    for (int level = 0; level < levels; ++level)
      for (int q = 0; q < 2; ++q) {
        const __m512i v = _mm512_load_si512(&stage[level][q][g * kLanes]);
        const int64_t at = (dcfBitLevelWord(level) + q) * kLanes;
        putLine(t0w + at, v), putLine(t1w + at, v);
      }
    const __m512i vw = _mm512_load_si512(valueWord + g * kLanes), lo = _mm512_load_si512(leafLo + g * kLanes), hi = _mm512_load_si512(leafHi + g * kLanes);
    putLine(t0w + dcfBitValueWord(bits) * kLanes, vw), putLine(t1w + dcfBitValueWord(bits) * kLanes, vw);
    putLine(t0w + dcfBitLeafWord(bits) * kLanes, lo), putLine(t1w + dcfBitLeafWord(bits) * kLanes, lo);
    putLine(t0w + (dcfBitLeafWord(bits) + 1) * kLanes, hi), putLine(t1w + (dcfBitLeafWord(bits) + 1) * kLanes, hi);
  }
  _mm_sfence();
  for (uint64_t* b : {root0, root1}) {
    volatile uint64_t* wipe = b;
    for (int i = 0; i < N; ++i) wipe[i] = 0;
  }
  // Wipe the walk's secrets from the stack (the dealer's alpha path is in them).
  for (Block* b : {s, roots}) {
    volatile uint64_t* wipe = reinterpret_cast<volatile uint64_t*>(b);
    for (size_t i = 0; i < 4 * static_cast<size_t>(N); ++i) wipe[i] = 0;
  }
}

void dcfBitEvalBatchWide(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* xIn, uint8_t* y, int64_t end) {
  const BitTiles tiles(keys, first, a.bits, end);
  __m512i sLo[kGroups], sHi[kGroups];
  BitWalk walk(a, tiles, xIn, first, sLo, sHi);
  alignas(64) Block s[kDcfBitBatch], child[kDcfBitBatch];
  alignas(64) uint8_t dir[kDcfBitBatch];
  for (int g = 0; g < kGroups; ++g) joinBlocks(s + g * kLanes, sLo[g], sHi[g]);
  const int levels = static_cast<int>(dcfBitLevels(a.bits));
  for (int level = 0; level < levels; ++level) {
    const int shift = a.bits - 1 - level;
    tiles.prefetchFor(level);
    const __m512i bit = _mm512_set1_epi64(static_cast<long long>(uint64_t(1) << shift));
    for (int g = 0; g < kGroups; ++g)
      _mm_storel_epi64(reinterpret_cast<__m128i*>(dir + g * kLanes), _mm512_maskz_cvtepi64_epi8(0xFF, _mm512_maskz_srlv_epi64(0xFF, _mm512_and_si512(walk.x[g], bit), _mm512_set1_epi64(shift))));
    hashChildren(s, dir, child, kDcfBitBatch, a.impl);
    for (int g = 0; g < kGroups; ++g) {
      __m512i chLo, chHi;
      splitBlocks(child + g * kLanes, chLo, chHi);
      walk.step(tiles, g, level, _mm512_test_epi64_mask(walk.x[g], bit), chLo, chHi, sLo[g], sHi[g]);
      joinBlocks(s + g * kLanes, sLo[g], sHi[g]);
    }
  }
  walk.outputs(a, tiles, s, first, y);
}

#pragma GCC pop_options

// dcfBitEvalBatchWide with its AES in registers (VAES): the seeds stay as word vectors and each
// level's hash runs on all four groups' blocks at once (eight registers in flight), with no
// block array stored, reloaded or permuted between the hash and the rest of the level
// (fss/vaes_blocks.h; dcf_eval_avx512.cc's dcfEvalBatchVaes does the same for the 64-bit DCF).
#pragma GCC push_options
#pragma GCC target("avx512f,aes,vaes")
#include "fss/vaes_blocks.h"

bool dcfBitEvalVaesAvailable(AesImpl impl) { return cpuFeatures().avx512 && useVaes(impl); }

void dcfBitEvalBatchVaes(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* xIn, uint8_t* y, int64_t end) {
  const BitTiles tiles(keys, first, a.bits, end);
  __m512i sLo[kGroups], sHi[kGroups];
  BitWalk walk(a, tiles, xIn, first, sLo, sHi);
  static const PairKeys child(HashKey::Left, HashKey::Right);
  const int levels = static_cast<int>(dcfBitLevels(a.bits));
  for (int level = 0; level < levels; ++level) {
    tiles.prefetchFor(level);
    const __m512i bit = _mm512_set1_epi64(static_cast<long long>(uint64_t(1) << (a.bits - 1 - level)));
    __m512i in[2 * kGroups], c[2 * kGroups];
    __mmask8 m[2 * kGroups], right[kGroups];
    for (int g = 0; g < kGroups; ++g) {
      right[g] = _mm512_test_epi64_mask(walk.x[g], bit);
      sigmaBlocks(sLo[g], sHi[g], in[2 * g], in[2 * g + 1]);
      m[2 * g] = kSpread.even[right[g]], m[2 * g + 1] = kSpread.odd[right[g]];
    }
    hashRegisters<2 * kGroups>(child, in, m, c);
    for (int g = 0; g < kGroups; ++g) {
      __m512i chLo, chHi;
      wordsOf(c[2 * g], c[2 * g + 1], chLo, chHi);
      walk.step(tiles, g, level, right[g], chLo, chHi, sLo[g], sHi[g]);
    }
  }
  alignas(64) Block s[kDcfBitBatch];
  for (int g = 0; g < kGroups; ++g) joinBlocks(s + g * kLanes, sLo[g], sHi[g]);
  walk.outputs(a, tiles, s, first, y);
}

#pragma GCC pop_options

#else
bool dcfBitEvalVaesAvailable(AesImpl) { return false; }
void dcfBitEvalBatchVaes(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint8_t*, int64_t) { throw "unreachable"; }
void dcfBitKeygenBatchWide(const DcfKeygenArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t*, uint64_t*) { throw "unreachable"; }
void dcfBitEvalBatchWide(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint8_t*, int64_t) { throw "unreachable"; }
#endif

}  // namespace fss
}  // namespace tfe
