// dpf.cc's evaluation with its AES in registers (VAES): the seeds stay as word vectors (lo words
// of eight elements, hi words) and each level hashes all four groups' child blocks at once, eight
// registers in flight, as dcf_bit_avx512.cc's dcfBitEvalBatchVaes walks the one-bit DCF, whose
// levels the DPF's follow step for step (without the value bit; dpf.h). Key tiles as dcf.h's:
// a level's correction word of eight elements is one line.
//
// And its keygen eight lanes wide, as dcf_bit_avx512.cc's dcfBitKeygenBatchWide: the AES stays in
// the pipelined hash (four blocks per element and level), the rest of a level (the seed step,
// masks on alpha's bit, not branches) runs on word vectors, the level's words are staged and the
// key tiles streamed at the end. Compiled in the VAES region (the shared helpers are), so taken
// where the CPU has VAES.
#include "fss/dpf_avx512.h"

#include <immintrin.h>

#include <cstdint>

#include "core/cpu_features.h"
#include "fss/dcf.h"
#include "fss/dpf.h"
#include "fss/fixed_key_aes.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#pragma GCC push_options
#pragma GCC target("avx512f,aes,vaes")
#include "fss/avx512_blocks.h"
#include "fss/vaes_blocks.h"

namespace {
constexpr int kGroups = kDpfBatch / kLanes;

// A batch's key tiles; each level fetches the lines kAhead levels on (past the tile's end, the
// next batch's first ones).
struct DpfTiles {
  static constexpr int kAhead = 8;
  const uint64_t* tile[kGroups];
  int64_t K;
  bool hasNext;
  DpfTiles(const uint64_t* keys, int64_t first, int bits, int64_t end) : K(dpfKeyWords(bits)), hasNext(first + 2 * kDpfBatch <= end) {
    for (int g = 0; g < kGroups; ++g) tile[g] = keys + (first + g * kLanes) * K;
  }
  __m512i word(int g, int64_t w) const { return _mm512_loadu_si512(tile[g] + w * kLanes); }
  void prefetchFor(int level) const { prefetchTileWords<kGroups>(tile, K, kDpfBatch * K, hasNext, dpfLevelWord(level) + 2 * kAhead, 2); }
};
}  // namespace

bool dpfEvalVaesAvailable(AesImpl impl) { return cpuFeatures().avx512 && useVaes(impl); }

void dpfEvalBatchVaes(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* xIn, uint64_t* y, int64_t end) {
  const DpfTiles tiles(keys, first, a.bits, end);
  const __m512i one = _mm512_set1_epi64(1), zero = _mm512_setzero_si512();
  const __m512i seedMask = _mm512_set1_epi64(static_cast<long long>(kDpfSeedMask));
  const __m512i domain = _mm512_set1_epi64(static_cast<long long>(dcfDomainMask(a.bits)));
  __m512i sLo[kGroups], sHi[kGroups], x[kGroups], t[kGroups];
  for (int g = 0; g < kGroups; ++g) {
    sLo[g] = _mm512_and_si512(tiles.word(g, 0), seedMask), sHi[g] = tiles.word(g, 1);
    t[g] = _mm512_set1_epi64(static_cast<long long>(a.party & 1));
    x[g] = _mm512_and_si512(_mm512_loadu_si512(xIn + first + g * kLanes), domain);
  }
  static const PairKeys child(HashKey::Left, HashKey::Right);
  for (int level = 0; level < a.bits; ++level) {
    tiles.prefetchFor(level);
    const __m512i bit = _mm512_set1_epi64(static_cast<long long>(uint64_t(1) << (a.bits - 1 - level)));
    __m512i in[2 * kGroups], c[2 * kGroups];
    __mmask8 m[2 * kGroups], right[kGroups];
    for (int g = 0; g < kGroups; ++g) {
      right[g] = _mm512_test_epi64_mask(x[g], bit);
      sigmaBlocks(sLo[g], sHi[g], in[2 * g], in[2 * g + 1]);
      m[2 * g] = kSpread.even[right[g]], m[2 * g + 1] = kSpread.odd[right[g]];
    }
    hashRegisters<2 * kGroups>(child, in, m, c);
    const int64_t w = dpfLevelWord(level);
    for (int g = 0; g < kGroups; ++g) {
      __m512i chLo, chHi;
      wordsOf(c[2 * g], c[2 * g + 1], chLo, chHi);
      // dpf.h's dpfEvalLevel on eight lanes: this side's control correction (bit 0 left, bit 1
      // right of the level's lo word), the seed corrected where t is set.
      const __m512i tm = _mm512_sub_epi64(zero, t[g]);
      const __m512i cw0 = tiles.word(g, w), cw1 = tiles.word(g, w + 1);
      const __m512i tcw = _mm512_and_si512(_mm512_mask_srli_epi64(cw0, right[g], cw0, 1), one);
      const __m512i lo = _mm512_xor_si512(chLo, _mm512_and_si512(_mm512_and_si512(cw0, seedMask), tm));
      sHi[g] = _mm512_xor_si512(chHi, _mm512_and_si512(cw1, tm));
      t[g] = _mm512_xor_si512(_mm512_and_si512(chLo, one), _mm512_and_si512(tcw, t[g]));
      sLo[g] = _mm512_and_si512(lo, seedMask);
    }
  }
  // dpfEvalOutput: (-1)^party (Convert(s) + t CW).
  const int64_t fw = dpfFinalWord(a.bits);
  const __m512i pm = _mm512_set1_epi64(-static_cast<long long>(a.party & 1));
  for (int g = 0; g < kGroups; ++g) {
    const __m512i v = _mm512_add_epi64(sHi[g], _mm512_and_si512(tiles.word(g, fw), _mm512_sub_epi64(zero, t[g])));
    _mm512_storeu_si512(y + first + g * kLanes, _mm512_sub_epi64(_mm512_xor_si512(v, pm), pm));
  }
}

bool dpfKeygenWideAvailable(AesImpl impl) { return cpuFeatures().avx512 && cpuFeatures().vaes && impl != AesImpl::Portable; }

void dpfKeygenBatchWide(const DcfKeygenArgs& a, int64_t first, const uint64_t* alphaIn, const uint64_t* betaIn, uint64_t* key0, uint64_t* key1) {
  constexpr int N = kDpfBatch;
  const int bits = a.bits;
  const int64_t K = dpfKeyWords(bits);
  const __m512i one = _mm512_set1_epi64(1), zero = _mm512_setzero_si512();
  const __m512i seedMask = _mm512_set1_epi64(static_cast<long long>(kDpfSeedMask));
  const __m512i domain = _mm512_set1_epi64(static_cast<long long>(dcfDomainMask(bits)));
  alignas(64) Block s[2 * N], L[2 * N], R[2 * N], roots[2 * N];
  // The levels' seed words, [level][lo/hi][element of the batch], streamed into the tiles at the end.
  alignas(64) uint64_t stage[kDcfMaxBits][2][N];
  __m512i t0[kGroups], t1[kGroups], alpha[kGroups];
  aesCtrBlocks(a.prgKey, a.iv, 2 * (a.first + static_cast<uint64_t>(first)), 2 * N, reinterpret_cast<uint8_t*>(roots), a.impl);
  // dpf.h's dpfKeygenRoot: the seeds are the drawn blocks less bits 0..1; t0 = 0, t1 = 1.
  for (int g = 0; g < kGroups; ++g) {
    const int o = 2 * g * kLanes;
    const Pair r = split(roots + o);
    join(s + o, _mm512_and_si512(r.lo0, seedMask), r.hi0, _mm512_and_si512(r.lo1, seedMask), r.hi1);
    t0[g] = zero, t1[g] = one;
    alpha[g] = _mm512_and_si512(_mm512_loadu_si512(alphaIn + first + g * kLanes), domain);
  }
  for (int level = 0; level < bits; ++level) {
    hashBlocks(HashKey::Left, s, L, 2 * N, a.impl);
    hashBlocks(HashKey::Right, s, R, 2 * N, a.impl);
    const __m512i shiftV = _mm512_set1_epi64(bits - 1 - level);
    for (int g = 0; g < kGroups; ++g) {
      const int o = 2 * g * kLanes;
      const __m512i abit = _mm512_and_si512(_mm512_maskz_srlv_epi64(0xFF, alpha[g], shiftV), one);
      const __mmask8 am = _mm512_test_epi64_mask(abit, one);  // set: alpha's bit is 1, keep is the right child
      // dpf.h's dpfKeygenLevel: the seed step is the one-bit DCF's (bit 1 of the lo words unused).
      const SeedStep st = seedStep(split(L + o), split(R + o), abit, am, seedMask, s + o, t0[g], t1[g]);
      _mm512_storeu_si512(&stage[level][0][g * kLanes], _mm512_or_si512(st.cwLo, _mm512_or_si512(st.tCWL, _mm512_maskz_slli_epi64(0xFF, st.tCWR, 1))));
      _mm512_storeu_si512(&stage[level][1][g * kLanes], st.cwHi);
    }
  }
  // The tiles (dcf.h "Tiles"), streamed to both keys a 64-byte line at a time: the root words as
  // drawn, the levels' words and dpfKeygenFinal's CW = (-1)^t1 (beta - Convert(s0) + Convert(s1)).
  for (int g = 0; g < kGroups; ++g) {
    uint64_t *t0w = key0 + (first + g * kLanes) * K, *t1w = key1 + (first + g * kLanes) * K;
    const Pair r = split(roots + 2 * g * kLanes), fin = split(s + 2 * g * kLanes);
    putLine(t0w, r.lo0), putLine(t0w + kLanes, r.hi0);
    putLine(t1w, r.lo1), putLine(t1w + kLanes, r.hi1);
    for (int level = 0; level < bits; ++level)
      for (int q = 0; q < 2; ++q) {
        const __m512i v = _mm512_load_si512(&stage[level][q][g * kLanes]);
        const int64_t at = (dpfLevelWord(level) + q) * kLanes;
        putLine(t0w + at, v), putLine(t1w + at, v);
      }
    const __m512i d = _mm512_add_epi64(_mm512_sub_epi64(_mm512_loadu_si512(betaIn + first + g * kLanes), fin.hi0), fin.hi1);
    const __m512i m = _mm512_sub_epi64(zero, t1[g]);
    const __m512i cw = _mm512_sub_epi64(_mm512_xor_si512(d, m), m);
    putLine(t0w + dpfFinalWord(bits) * kLanes, cw), putLine(t1w + dpfFinalWord(bits) * kLanes, cw);
  }
  _mm_sfence();
  // Wipe the walk's secrets from the stack (the dealer's alpha path is in them).
  for (Block* b : {s, L, R, roots}) {
    volatile uint64_t* wipe = reinterpret_cast<volatile uint64_t*>(b);
    for (int i = 0; i < 4 * N; ++i) wipe[i] = 0;
  }
  volatile uint64_t* wipe = &stage[0][0][0];
  for (size_t i = 0; i < sizeof(stage) / 8; ++i) wipe[i] = 0;
}

#pragma GCC pop_options

#else
bool dpfEvalVaesAvailable(AesImpl) { return false; }
void dpfEvalBatchVaes(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t*, int64_t) { throw "unreachable"; }
bool dpfKeygenWideAvailable(AesImpl) { return false; }
void dpfKeygenBatchWide(const DcfKeygenArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t*, uint64_t*) { throw "unreachable"; }
#endif

}  // namespace fss
}  // namespace tfe
