// Distributed Point Function (DPF) keys for the FSS equality gate (lib/protocol/fss/equality.ts):
// additive shares over Z_2^64 of beta [x = alpha]. One equality test costs one DPF key of 2 * bits + 3
// words (792 bytes for bits = 48, 1048 for 64) and one AES call per level to evaluate, where the
// same test from comparisons, [x >= 0] - [x >= 1], takes two DCF keys (2 x 2056 bytes at the full
// width for the one-round gate) and four calls per level.
//
// Construction: Boyle, Gilboa, Ishai, "Function Secret Sharing: Improvements and Extensions" (CCS
// 2016), Fig. 1 (the tree DPF), over output group Z_2^64, without early termination.
// Semantics: for alpha, beta in Z_2^64 and a domain of `bits` bits (1..64), keygen gives k0, k1 with
// Eval(0, k0, x) + Eval(1, k1, x) = beta if (x mod 2^bits) = (alpha mod 2^bits), else 0 (mod 2^64).
// The tree walks x from bit bits-1 (level 0) to bit 0.
//
// G expands a seed s with the fixed-key hash (fixed_key_aes.h), one block per child, as the one-bit
// DCF's (dcf_bit.h): H_Left(s): bit 0 = the control bit t^L, bits 2..127 = the seed s^L (bit 1
// unused); H_Right(s) likewise. Convert(final seed s) = s's hi word (the final seeds are outputs of
// G and are not expanded again). So an evaluation hashes one block per level, keygen four (two
// children of both parties' seeds).
//
// Key layout, K = dpfKeyWords(bits) = 2 * bits + 3 uint64 words per element, stored in tiles of eight
// elements as dcf.h's keys ("Tiles"; the functions below take an element's word 0 and the stride):
//   [0], [1]        the party's root block as drawn (lo, hi); its seed is the block with bits 0..1 of
//                   lo cleared (stored whole so that the word, like the rest of the key, is uniform).
//   [2+2i], [3+2i]  level i's seed correction (lo, hi); bit 0 of lo = tCW^L, bit 1 = tCW^R.
//   [2+2*bits]      the final correction word CW (Z_2^64).
// The two parties' keys differ only in words 0 and 1.
// What a key alone shows: its root block is uniform; level i's seed correction is the XOR of the
// two parties' seeds of the child off alpha's path, the other party's half pseudorandom to this
// one; the control corrections XOR the other party's control bits (pseudorandom); CW holds the
// other party's Convert of its final seed. So each key is pseudorandom (BGI16, Theorem 3.3).
//
// Randomness: as dcf.h. The only randomness is the root blocks of the PRG stream of (seed, nonce):
// element j reads blocks 2 (first + j) (party 0's root) and 2 (first + j) + 1 (party 1's); the rest
// of keygen is deterministic.
//
// The per-element steps below are TFE_HD: the CPU kernels (dpf.cc) batch them across elements
// around the pipelined AES, and the CUDA kernels (native/cuda/fss_dpf.cu) run them one thread per
// element with the device AES, so both compute the same keys by construction.
#pragma once
#include <cstdint>

#include "core/hd.h"

namespace tfe {
namespace fss {

TFE_HD int64_t dpfKeyWords(int64_t bits) { return 2 * bits + 3; }
TFE_HD int64_t dpfLevelWord(int64_t level) { return 2 + 2 * level; }
TFE_HD int64_t dpfFinalWord(int64_t bits) { return 2 + 2 * bits; }

constexpr uint64_t kDpfSeedMask = ~uint64_t(3);  // the seed bits of a block's lo word

TFE_HD uint64_t dpfMask(uint64_t bit) { return uint64_t(0) - (bit & 1); }  // 0 or all ones
TFE_HD uint64_t dpfSelect(uint64_t m, uint64_t a, uint64_t b) { return (a & ~m) | (b & m); }

// The dealer's state for one element: both parties' seeds and control bits on alpha's path.
struct DpfDealer {
  uint64_t sLo[2], sHi[2], t[2];
};

// Starts the walk from the two drawn root blocks (d0 party 0's, d1 party 1's): writes the root
// words of both keys.
TFE_HD void dpfKeygenRoot(DpfDealer& st, uint64_t d0Lo, uint64_t d0Hi, uint64_t d1Lo, uint64_t d1Hi, uint64_t* k0, uint64_t* k1,
                          int64_t stride) {
  st.sLo[0] = d0Lo & kDpfSeedMask, st.sHi[0] = d0Hi;
  st.sLo[1] = d1Lo & kDpfSeedMask, st.sHi[1] = d1Hi;
  st.t[0] = 0, st.t[1] = 1;
  k0[0] = d0Lo, k0[stride] = d0Hi;
  k1[0] = d1Lo, k1[stride] = d1Hi;
}

// One level: L[b], R[b] are H_Left and H_Right of party b's current seed, abit alpha's bit at this
// level. Returns the level's seed words (cwLo with tCW^L, tCW^R in bits 0, 1; cwHi) and moves both
// parties to the child on alpha's path. Masks, not branches, on abit: the dealer's timing must not
// depend on alpha.
TFE_HD void dpfKeygenLevel(DpfDealer& st, const uint64_t Llo[2], const uint64_t Lhi[2], const uint64_t Rlo[2], const uint64_t Rhi[2],
                           uint64_t abit, uint64_t& cwLo, uint64_t& cwHi) {
  abit &= 1;
  const uint64_t am = dpfMask(abit);
  uint64_t keepLo[2], keepHi[2], tKeep[2], loseLo[2], loseHi[2], tL[2], tR[2];
  for (int b = 0; b < 2; ++b) {
    tL[b] = Llo[b] & 1, tR[b] = Rlo[b] & 1;
    const uint64_t sLlo = Llo[b] & kDpfSeedMask, sRlo = Rlo[b] & kDpfSeedMask;
    // Keep is the child on alpha's path: left when alpha's bit is 0.
    keepLo[b] = dpfSelect(am, sLlo, sRlo), keepHi[b] = dpfSelect(am, Lhi[b], Rhi[b]);
    loseLo[b] = dpfSelect(am, sRlo, sLlo), loseHi[b] = dpfSelect(am, Rhi[b], Lhi[b]);
    tKeep[b] = dpfSelect(am, tL[b], tR[b]);
  }
  // Off the path the corrected seeds and control bits must agree (so the two outputs cancel); on
  // it the control bits must differ.
  const uint64_t sCWlo = loseLo[0] ^ loseLo[1], sCWhi = loseHi[0] ^ loseHi[1];
  const uint64_t tCWL = tL[0] ^ tL[1] ^ abit ^ 1, tCWR = tR[0] ^ tR[1] ^ abit;
  cwLo = sCWlo | tCWL | tCWR << 1, cwHi = sCWhi;
  const uint64_t tCWKeep = dpfSelect(am, tCWL, tCWR);
  for (int b = 0; b < 2; ++b) {
    const uint64_t tm = dpfMask(st.t[b]);
    st.sLo[b] = keepLo[b] ^ (sCWlo & tm), st.sHi[b] = keepHi[b] ^ (sCWhi & tm);
    st.t[b] = tKeep[b] ^ (st.t[b] & tCWKeep);
  }
}

// The final correction word after the last level. On alpha's path t0 xor t1 = 1 and the outputs
// y_b = (-1)^b (Convert(s_b) + t_b CW) must sum to beta: Convert(s_0) - Convert(s_1) + (t_0 - t_1)
// CW = beta, so CW = (-1)^t_1 (beta - Convert(s_0) + Convert(s_1)). (A mask on t_1, no branch.)
TFE_HD uint64_t dpfKeygenFinal(const DpfDealer& st, uint64_t beta) {
  const uint64_t d = beta - st.sHi[0] + st.sHi[1], m = dpfMask(st.t[1]);
  return (d ^ m) - m;  // d, or -d where t_1 = 1
}

// One party's walk state for one element.
struct DpfWalker {
  uint64_t sLo, sHi, t;
};

TFE_HD void dpfEvalRoot(DpfWalker& st, const uint64_t* key, int64_t stride, uint64_t party) {
  st.sLo = key[0] & kDpfSeedMask, st.sHi = key[stride];
  st.t = party & 1;
}

// One level: child = H_Left or H_Right (x's bit `dir`, public) of the current seed.
TFE_HD void dpfEvalLevel(DpfWalker& st, const uint64_t* key, int64_t stride, int64_t level, uint64_t dir, uint64_t childLo, uint64_t childHi) {
  const int64_t w = dpfLevelWord(level);
  const uint64_t tm = dpfMask(st.t);
  const uint64_t cwLo = key[w * stride], cwHi = key[(w + 1) * stride];
  const uint64_t tcw = cwLo >> (dir & 1) & 1;
  const uint64_t lo = childLo ^ (cwLo & kDpfSeedMask & tm), hi = childHi ^ (cwHi & tm);
  st.t = (childLo & 1) ^ (tcw & st.t);
  st.sLo = lo & kDpfSeedMask, st.sHi = hi;
}

// The party's output share (-1)^party (Convert(s) + t CW).
TFE_HD uint64_t dpfEvalOutput(const DpfWalker& st, const uint64_t* key, int64_t stride, int64_t bits, uint64_t party) {
  const uint64_t y = st.sHi + (key[dpfFinalWord(bits) * stride] & dpfMask(st.t)), m = dpfMask(party);
  return (y ^ m) - m;
}

}  // namespace fss
}  // namespace tfe
