// The one-bit DCF: XOR shares of [x < alpha] from a key of 2 * (bits - 7) + 5 words (936 bytes for
// the 63-bit domain, against 2056 for the two-payload DCF of dcf.h). The compact ReLU gate
// (lib/protocol/fss/compact_gate.ts) uses it where key bytes, not rounds, bound a query: it pays a
// second online round (a masked bit per element) for keys under half the size and one AES call per
// level.
//
// Construction: Boyle et al., "Function Secret Sharing for Mixed-Mode and Fixed-Point Secure
// Computation" (Eurocrypt 2021), Fig. 1, with output group Z_2 (where every sign (-1)^t of the
// figure is +1) and payload beta = 1, as Orca's DReLU key (Jawalkar et al., S&P 2024) uses it,
// with early termination: the tree stops LEAF_BITS = min(7, bits) levels above the leaves, and one
// 128-bit block per node there holds the outputs of its 2^LEAF_BITS leaves.
// Semantics: for alpha in Z_2^64, an offset bit w and a domain of `bits` bits, keygen gives k0, k1
// with Eval(0, k0, x) xor Eval(1, k1, x) = [(x mod 2^bits) < (alpha mod 2^bits)] xor w. The tree
// walks x from bit bits-1 (level 0) down to bit LEAF_BITS (level L - 1, L = bits - LEAF_BITS);
// x's low LEAF_BITS bits pick the output bit in the leaf block.
//
// G expands a seed s with the fixed-key hash (fixed_key_aes.h), one block per child:
//   H_Left(s):  bit 0 = the control bit t^L, bit 1 = the value bit v^L, bits 2..127 = seed s^L;
//   H_Right(s): likewise t^R, v^R, s^R;
//   H_Value(s): at the end of the walk, the 128 output bits of the node's leaves (bit i of lo for
//               i < 64, bit i - 64 of hi above).
// So an evaluation hashes one block per level (the child x's bit selects) and one leaf block, where
// the 64-bit DCF hashes two per level, and keygen four per level (two children, two parties).
// Seeds have 126 bits.
//
// Key layout, K = dcfBitKeyWords(bits) = 2 L + 5 uint64 words per element, stored in tiles of
// eight elements as dcf.h's keys ("Tiles": word w of a tile's j-th element at w r + j in a tile of
// r elements; the functions below take an element's word 0 and that stride):
//   [0], [1]        root seed (lo, hi), whose bits 0..1 of lo are not seed bits: bit 0 of [0] is
//                   the party's share w_j of the offset (w_0 uniform, w_1 = w xor w_0), bit 1 the
//                   drawn block's (unused: there so that the word, like the key, is uniform).
//   [2+2i], [3+2i]  level i's seed correction (lo, hi), i < L; bit 0 of lo = tCW^L, bit 1 = tCW^R.
//   [2+2L]          the value corrections: bit i = level i's (bits >= L zero).
//   [3+2L], [4+2L]  the leaf correction (lo, hi): 128 bits.
// The two parties' keys differ only in words 0 and 1.
//
// Randomness: as dcf.h. The only randomness is the root blocks of the PRG stream of (seed, nonce):
// element j reads blocks 2 (first + j) (party 0's root and w_0 = its bit 0) and 2 (first + j) + 1
// (party 1's root); the rest of keygen is deterministic.
//
// The per-element steps below are TFE_HD: the CPU kernels (dcf_bit.cc) batch them across
// elements around the pipelined AES, and the CUDA kernels run them one thread per element with the
// device AES, so both compute the same keys by construction.
#pragma once
#include <cstdint>

#include "core/hd.h"

namespace tfe {
namespace fss {

constexpr int kDcfBitMaxLeafBits = 7;  // a 128-bit leaf block

TFE_HD int64_t dcfBitLeafBits(int64_t bits) { return bits < kDcfBitMaxLeafBits ? bits : kDcfBitMaxLeafBits; }
TFE_HD int64_t dcfBitLevels(int64_t bits) { return bits - dcfBitLeafBits(bits); }
TFE_HD int64_t dcfBitKeyWords(int64_t bits) { return 2 * dcfBitLevels(bits) + 5; }
TFE_HD int64_t dcfBitLevelWord(int64_t level) { return 2 + 2 * level; }
TFE_HD int64_t dcfBitValueWord(int64_t bits) { return 2 + 2 * dcfBitLevels(bits); }
TFE_HD int64_t dcfBitLeafWord(int64_t bits) { return 3 + 2 * dcfBitLevels(bits); }
// The low bits of x (and alpha) that pick a leaf in the leaf block.
TFE_HD uint64_t dcfBitLeafMask(int64_t bits) { return (uint64_t(1) << dcfBitLeafBits(bits)) - 1; }

constexpr uint64_t kDcfBitSeedMask = ~uint64_t(3);  // the seed bits of a block's lo word

TFE_HD uint64_t dcfBitMask(uint64_t bit) { return uint64_t(0) - (bit & 1); }  // 0 or all ones
TFE_HD uint64_t dcfBitSelect(uint64_t m, uint64_t a, uint64_t b) { return (a & ~m) | (b & m); }

// The dealer's state for one element: both parties' seeds and control bits, and the XOR of the
// two parties' value bits along alpha's path so far.
struct DcfBitDealer {
  uint64_t sLo[2], sHi[2], t[2], vAlpha;
};

// Starts the walk from the two drawn root blocks (d0 party 0's, d1 party 1's) and the offset bit
// w: writes the root words of both keys.
TFE_HD void dcfBitKeygenRoot(DcfBitDealer& st, uint64_t d0Lo, uint64_t d0Hi, uint64_t d1Lo, uint64_t d1Hi, uint64_t w, uint64_t* k0,
                             uint64_t* k1, int64_t stride) {
  st.sLo[0] = d0Lo & kDcfBitSeedMask, st.sHi[0] = d0Hi;
  st.sLo[1] = d1Lo & kDcfBitSeedMask, st.sHi[1] = d1Hi;
  st.t[0] = 0, st.t[1] = 1, st.vAlpha = 0;
  // Party 0's root word is its drawn block's, whose bit 0 is w_0; party 1's carries w xor w_0.
  const uint64_t w0 = d0Lo & 1;
  k0[0] = d0Lo, k0[stride] = st.sHi[0];
  k1[0] = (d1Lo & ~uint64_t(1)) | ((w ^ w0) & 1), k1[stride] = st.sHi[1];
}

// One level: L[b], R[b] are H_Left and H_Right of party b's current seed, abit alpha's bit at this
// level. Returns the level's seed words (cwLo with tCW^L, tCW^R in bits 0, 1; cwHi) and its value
// correction bit, and moves both parties to the child on alpha's path. Masks, not branches, on
// abit: the dealer's timing must not depend on alpha.
TFE_HD void dcfBitKeygenLevel(DcfBitDealer& st, const uint64_t Llo[2], const uint64_t Lhi[2], const uint64_t Rlo[2], const uint64_t Rhi[2],
                              uint64_t abit, uint64_t& cwLo, uint64_t& cwHi, uint64_t& vcw) {
  abit &= 1;
  const uint64_t am = dcfBitMask(abit);
  uint64_t keepLo[2], keepHi[2], tKeep[2], vKeep[2], loseLo[2], loseHi[2], vLose[2], tL[2], tR[2];
  for (int b = 0; b < 2; ++b) {
    tL[b] = Llo[b] & 1, tR[b] = Rlo[b] & 1;
    const uint64_t vL = Llo[b] >> 1 & 1, vR = Rlo[b] >> 1 & 1;
    const uint64_t sLlo = Llo[b] & kDcfBitSeedMask, sRlo = Rlo[b] & kDcfBitSeedMask;
    // Keep is the child on alpha's path: left when alpha's bit is 0.
    keepLo[b] = dcfBitSelect(am, sLlo, sRlo), keepHi[b] = dcfBitSelect(am, Lhi[b], Rhi[b]);
    loseLo[b] = dcfBitSelect(am, sRlo, sLlo), loseHi[b] = dcfBitSelect(am, Rhi[b], Lhi[b]);
    tKeep[b] = dcfBitSelect(am, tL[b], tR[b]);
    vKeep[b] = dcfBitSelect(am, vL, vR), vLose[b] = dcfBitSelect(am, vR, vL);
  }
  const uint64_t sCWlo = loseLo[0] ^ loseLo[1], sCWhi = loseHi[0] ^ loseHi[1];
  // The corrected control bits must differ on alpha's path and agree off it.
  const uint64_t tCWL = tL[0] ^ tL[1] ^ abit ^ 1, tCWR = tR[0] ^ tR[1] ^ abit;
  // Off the path the two value bits must XOR to 1 when the lost child lies left of alpha (every
  // x below it is < alpha: alpha's bit is 1) and to 0 when right, given what the path added.
  vcw = vLose[0] ^ vLose[1] ^ st.vAlpha ^ abit;
  // On the path exactly one party's control bit is set, so exactly one adds vcw.
  st.vAlpha ^= vKeep[0] ^ vKeep[1] ^ vcw;
  cwLo = sCWlo | tCWL | tCWR << 1, cwHi = sCWhi;
  const uint64_t tCWKeep = dcfBitSelect(am, tCWL, tCWR);
  for (int b = 0; b < 2; ++b) {
    const uint64_t tm = dcfBitMask(st.t[b]);
    st.sLo[b] = keepLo[b] ^ (sCWlo & tm), st.sHi[b] = keepHi[b] ^ (sCWhi & tm);
    st.t[b] = tKeep[b] ^ (st.t[b] & tCWKeep);
  }
}

// The leaf correction after the last level: h0, h1 = H_Value of the two parties' seeds, aLow =
// alpha's low leafBits bits. On alpha's path the parties' leaf blocks must XOR to the leaves'
// outputs [i < aLow] given what the path added (vAlpha); off it they are equal and cancel.
TFE_HD void dcfBitKeygenLeaf(const DcfBitDealer& st, uint64_t h0Lo, uint64_t h0Hi, uint64_t h1Lo, uint64_t h1Hi, uint64_t aLow,
                             uint64_t& cwLo, uint64_t& cwHi) {
  // [i < aLow] for i < 64 (lo) and i - 64 (hi), with masks rather than branches on alpha.
  const uint64_t below = (uint64_t(1) << (aLow & 63)) - 1, upper = dcfBitMask(aLow >> 6);
  const uint64_t lessLo = below | upper, lessHi = below & upper;
  const uint64_t v = dcfBitMask(st.vAlpha);
  cwLo = h0Lo ^ h1Lo ^ lessLo ^ v;
  cwHi = h0Hi ^ h1Hi ^ lessHi ^ v;
}

// One party's walk state for one element.
struct DcfBitWalker {
  uint64_t sLo, sHi, t, v;
};

TFE_HD void dcfBitEvalRoot(DcfBitWalker& st, const uint64_t* key, int64_t stride, uint64_t party) {
  st.sLo = key[0] & kDcfBitSeedMask, st.sHi = key[stride];
  st.t = party & 1, st.v = key[0] & 1;  // the output starts at the party's offset share
}

// One level: child = H_Left or H_Right (x's bit `dir`, public) of the current seed.
TFE_HD void dcfBitEvalLevel(DcfBitWalker& st, const uint64_t* key, int64_t stride, int64_t bits, int64_t level, uint64_t dir,
                            uint64_t childLo, uint64_t childHi) {
  const int64_t w = dcfBitLevelWord(level);
  const uint64_t tm = dcfBitMask(st.t);
  const uint64_t cwLo = key[w * stride], cwHi = key[(w + 1) * stride];
  const uint64_t tcw = cwLo >> (dir & 1) & 1;
  const uint64_t vcw = key[dcfBitValueWord(bits) * stride] >> level & 1;
  const uint64_t lo = childLo ^ (cwLo & kDcfBitSeedMask & tm), hi = childHi ^ (cwHi & tm);
  st.v ^= (childLo >> 1 & 1) ^ (vcw & st.t);
  st.t = (childLo & 1) ^ (tcw & st.t);
  st.sLo = lo & kDcfBitSeedMask, st.sHi = hi;
}

// The party's output bit: the leaf block h = H_Value of its final seed, corrected where its control
// bit is set, at x's low leafBits bits (xLow).
TFE_HD uint64_t dcfBitEvalLeaf(const DcfBitWalker& st, const uint64_t* key, int64_t stride, int64_t bits, uint64_t hLo, uint64_t hHi,
                               uint64_t xLow) {
  const int64_t lw = dcfBitLeafWord(bits);
  const uint64_t tm = dcfBitMask(st.t);
  const uint64_t lo = hLo ^ (key[lw * stride] & tm), hi = hHi ^ (key[(lw + 1) * stride] & tm);
  const uint64_t leaf = xLow >= 64 ? hi >> (xLow - 64) : lo >> xLow;
  return (st.v ^ leaf) & 1;
}

}  // namespace fss
}  // namespace tfe
