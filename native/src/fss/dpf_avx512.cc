// dpf.cc's evaluation with its AES in registers (VAES): the seeds stay as word vectors (lo words
// of eight elements, hi words) and each level hashes all four groups' child blocks at once, eight
// registers in flight, as dcf_bit_avx512.cc's dcfBitEvalBatchVaes walks the one-bit DCF, whose
// levels the DPF's follow step for step (without the value bit; dpf.h). Key tiles as dcf.h's:
// a level's correction word of eight elements is one line.
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

#pragma GCC pop_options

#else
bool dpfEvalVaesAvailable(AesImpl) { return false; }
void dpfEvalBatchVaes(const DcfEvalArgs&, int64_t, const uint64_t*, const uint64_t*, uint64_t*, int64_t) { throw "unreachable"; }
#endif

}  // namespace fss
}  // namespace tfe
