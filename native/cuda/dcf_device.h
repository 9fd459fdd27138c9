// The DCF's per-element work (native/src/fss/dcf.h: construction, key layout, randomness) as
// TFE_HD functions: the CUDA kernels (fss_dcf.cu) run them one thread per element, and the host
// check (test/host_check_dcf.cc) compiles them with g++ and compares them bit for bit with the
// CPU kernels (dcf_keygen.cc, dcf_eval.cc), so the arithmetic is tested on machines without a GPU.
//
// The code follows the CPU kernels step for step; the CPU batches a tree level across elements
// for the AES pipeline, a thread here walks one element's whole tree (a GPU hides the AES
// latency with other threads instead). G is the fixed-key hash of fss/fixed_key_aes.h,
// H_k(x) = AES_k(sigma(x)) xor sigma(x), on the T-table AES of aes_device.h with the round keys
// of the CPU's fixed keys (fss::fixedKey, converted by dcfFixedKeys), so the two cannot diverge.
//
// Secrets: the dealer's walk (keygen) selects with masks, not branches, on alpha's bits, as on
// the CPU; evaluation branches on x's bits only (public, the opened masked value). The T-table
// lookups are indexed by seeds, with the caveat of aes_device.h (no untrusted code on the GPU).
// The walk's state lives in registers and is not wiped (the CPU wipes its stack buffers).
#pragma once
#include <cstdint>

#include "core/hd.h"
#include "cuda/aes_device.h"
#include "fss/dcf_bit.h"
#include "fss/fixed_key_aes.h"

namespace tfe {
namespace cuda {

// A 128-bit block as fss::Block: lo = bytes 0..7, hi = bytes 8..15, each little-endian.
struct DcfBlock {
  uint64_t lo, hi;
};

// Indices into the fixed-key round key sets, in fss::HashKey's order.
enum DcfHashKey : int { kDcfLeft = 0, kDcfRight = 1, kDcfValue = 2, kDcfValue2 = 3 };
constexpr int kDcfHashKeys = 4;
static_assert(static_cast<int>(fss::HashKey::Left) == kDcfLeft && static_cast<int>(fss::HashKey::Right) == kDcfRight &&
                  static_cast<int>(fss::HashKey::Value) == kDcfValue && static_cast<int>(fss::HashKey::Value2) == kDcfValue2,
              "DcfHashKey must follow fss::HashKey");

// The round keys of G's four fixed keys, from the CPU's key schedule (host side; the kernels
// take them by value and stage them in shared memory).
struct DcfFixedKeys {
  AesRoundKeys k[kDcfHashKeys];
};
inline DcfFixedKeys dcfFixedKeys() {
  DcfFixedKeys f{};
  for (int i = 0; i < kDcfHashKeys; ++i) f.k[i] = toRoundKeys(fss::fixedKey(static_cast<fss::HashKey>(i)));
  return f;
}

// Word offsets inside a key (dcf.h's dcfLevelWord etc., repeated here as TFE_HD functions).
TFE_HD int dcfKeyWordsHd(int bits, int payloads) { return (2 + payloads) * bits + 3 + payloads; }
TFE_HD int dcfLevelWordHd(int level, int payloads) { return 2 + (2 + payloads) * level; }
TFE_HD int dcfRightControlWordHd(int bits, int payloads) { return 2 + (2 + payloads) * bits; }
TFE_HD int dcfFinalWordHd(int bits, int payloads, int payload) { return 3 + (2 + payloads) * bits + payload; }
// Key tiles (dcf.h "Tiles"): element e's word 0 and the stride between its words.
TFE_HD int64_t dcfKeyOffsetHd(int64_t K, int64_t e) { return e / 8 * 8 * K + e % 8; }
TFE_HD int64_t dcfTileRowsHd(int64_t n, int64_t e) { return n - e / 8 * 8 < 8 ? n - e / 8 * 8 : 8; }
TFE_HD uint64_t dcfDomainMaskHd(int bits) { return bits >= 64 ? ~uint64_t(0) : (uint64_t(1) << bits) - 1; }

// The walks' small loops (2 parties, P payloads) unrolled on the device keep their arrays in
// registers instead of the stack; the host compiler would warn about the unknown pragma.
#if defined(__CUDA_ARCH__)
#define TFE_DCF_UNROLL _Pragma("unroll")
#else
#define TFE_DCF_UNROLL
#endif

TFE_HD uint64_t dcfMaskOf(uint64_t bit) { return uint64_t(0) - (bit & 1); }  // 0 or all ones
TFE_HD uint64_t dcfSelect(uint64_t m, uint64_t a, uint64_t b) { return (a & ~m) | (b & m); }
TFE_HD DcfBlock dcfSelect(uint64_t m, DcfBlock a, DcfBlock b) {
  return DcfBlock{dcfSelect(m, a.lo, b.lo), dcfSelect(m, a.hi, b.hi)};
}
// (-1)^t * v in Z_2^64, branch-free.
TFE_HD uint64_t dcfSignBy(uint64_t t, uint64_t v) {
  const uint64_t m = dcfMaskOf(t);
  return (v ^ m) - m;
}

// H_k(x) with k = keys[which]. sigma(hi || lo) = (hi xor lo) || hi, i.e. Block{hi, hi ^ lo}. The
// device AES takes the state as big-endian words, and a Block's bytes are little-endian words:
// hence the byte swaps in (aesEncryptBlock's first argument is bytes 0..7) and out (blockRing).
TFE_HD DcfBlock dcfHash(const AesRoundKeys* keys, int which, const uint32_t* t0, DcfBlock in) {
  const DcfBlock x{in.hi, in.hi ^ in.lo};
  uint32_t w[4];
  aesEncryptBlock(keys[which], t0, bswap64(x.lo), bswap64(x.hi), w);
  return DcfBlock{blockRing(w, 0) ^ x.lo, blockRing(w, 1) ^ x.hi};
}

// Element e's two root seeds (party 0's, party 1's): PRG stream blocks 2e and 2e + 1 of
// AES-128-CTR keyed by `seed` with counter nonce || block (dcf.h, "Randomness"); e = first + j
// stays below 2^63, so 2e + 1 does not wrap.
TFE_HD void dcfRootSeeds(const AesRoundKeys& prg, const uint32_t* t0, uint64_t nonce, uint64_t e, DcfBlock* s0,
                         DcfBlock* s1) {
  uint32_t w[4];
  aesCtrBlock(prg, t0, nonce, 2 * e, w);
  *s0 = DcfBlock{blockRing(w, 0), blockRing(w, 1)};
  aesCtrBlock(prg, t0, nonce, 2 * e + 1, w);
  *s1 = DcfBlock{blockRing(w, 0), blockRing(w, 1)};
}

// Value share of payload p for a seed's left (side 0) or right (side 1) child, from its value
// blocks v[0] = H_Value(s) and (two payloads) v[1] = H_Value2(s): one payload, v[0] holds both
// children (lo, hi); two payloads, v[side] holds both payloads (lo, hi) (dcf.h).
template <int P>
TFE_HD uint64_t dcfChildValue(const DcfBlock* v, int p, uint64_t side) {
  if (P == 1) return side ? v[0].hi : v[0].lo;
  const DcfBlock b = side ? v[1] : v[0];
  return p ? b.hi : b.lo;
}

// One level of a keygen walk's seeds, both parties (s[b], t[b]): the children's hashes, the seed
// and control corrections written to k0 and k1 at word w, and what the value corrections and
// the step to the next level (dcfKeygenStep) need. keygenBatch (dcf_keygen.cc) says why each
// correction is what it is.
struct DcfSeedLevel {
  DcfBlock sKeep[2], sCW;
  uint64_t tL[2], tR[2], tCWL, tCWR;
};
TFE_HD DcfSeedLevel dcfKeygenSeedLevel(const AesRoundKeys* fk, const uint32_t* t0, const DcfBlock* s, uint64_t abit, uint64_t* k0,
                                       uint64_t* k1, int w, int64_t stride) {
  const uint64_t am = dcfMaskOf(abit);
  DcfSeedLevel l;
  DcfBlock sLose[2];
  TFE_DCF_UNROLL
  for (int b = 0; b < 2; ++b) {
    const DcfBlock L = dcfHash(fk, kDcfLeft, t0, s[b]), R = dcfHash(fk, kDcfRight, t0, s[b]);
    l.tL[b] = L.lo & 1, l.tR[b] = R.lo & 1;
    const DcfBlock sL{L.lo & ~uint64_t(1), L.hi}, sR{R.lo & ~uint64_t(1), R.hi};
    // Keep is the child on alpha's path: left when alpha's bit is 0.
    l.sKeep[b] = dcfSelect(am, sL, sR);
    sLose[b] = dcfSelect(am, sR, sL);
  }
  l.sCW = DcfBlock{sLose[0].lo ^ sLose[1].lo, sLose[0].hi ^ sLose[1].hi};
  // The corrected control bits must differ on alpha's path and agree off it.
  l.tCWL = l.tL[0] ^ l.tL[1] ^ abit ^ 1, l.tCWR = l.tR[0] ^ l.tR[1] ^ abit;
  k0[w * stride] = k1[w * stride] = l.sCW.lo | l.tCWL;
  k0[(w + 1) * stride] = k1[(w + 1) * stride] = l.sCW.hi;
  return l;
}
// Both parties' seeds and control bits for the next level, along alpha's path.
TFE_HD void dcfKeygenStep(const DcfSeedLevel& l, uint64_t abit, DcfBlock* s, uint64_t* t) {
  const uint64_t am = dcfMaskOf(abit), tCWKeep = dcfSelect(am, l.tCWL, l.tCWR);
  TFE_DCF_UNROLL
  for (int b = 0; b < 2; ++b) {
    const uint64_t tm = dcfMaskOf(t[b]);
    s[b] = DcfBlock{l.sKeep[b].lo ^ (l.sCW.lo & tm), l.sKeep[b].hi ^ (l.sCW.hi & tm)};
    t[b] = dcfSelect(am, l.tL[b], l.tR[b]) ^ (t[b] & tCWKeep);
  }
}

// Both parties' keys for one element with P payloads (beta[p]) into k0 and k1 (its dcfKeyWords(bits,
// P) words each, word w at k[w * stride]: dcf.h "Tiles"): the root seeds s0, s1 in words 0, 1,
// then the corrections.
// The steps and their order are keygenBatch's (dcf_keygen.cc); the comments there say why each
// correction word is what it is.
template <int P>
TFE_HD void dcfKeygenElement(const AesRoundKeys* fk, const uint32_t* t0, int bits, uint64_t alpha, const uint64_t* beta,
                             DcfBlock s0, DcfBlock s1, uint64_t* k0, uint64_t* k1, int64_t stride) {
  const uint64_t domain = dcfDomainMaskHd(bits);
  k0[0] = s0.lo, k0[stride] = s0.hi;
  k1[0] = s1.lo, k1[stride] = s1.hi;
  DcfBlock s[2] = {s0, s1};
  uint64_t t[2] = {0, 1}, valpha[P], tRight = 0;
  TFE_DCF_UNROLL
  for (int p = 0; p < P; ++p) valpha[p] = 0;
  for (int level = 0; level < bits; ++level) {
    const int shift = bits - 1 - level;
    const int w = dcfLevelWordHd(level, P);
    const uint64_t abit = (alpha & domain) >> shift & 1, am = dcfMaskOf(abit);
    DcfBlock V[2][2];  // V[b]: party b's value blocks (H_Value, H_Value2)
    TFE_DCF_UNROLL
    for (int b = 0; b < 2; ++b) {
      TFE_DCF_UNROLL
      for (int q = 0; q < P; ++q) V[b][q] = dcfHash(fk, kDcfValue + q, t0, s[b]);
    }
    const DcfSeedLevel l = dcfKeygenSeedLevel(fk, t0, s, abit, k0, k1, w, stride);
    const uint64_t t1 = t[1];
    TFE_DCF_UNROLL
    for (int p = 0; p < P; ++p) {
      const uint64_t vKeep0 = dcfSelect(am, dcfChildValue<P>(V[0], p, 0), dcfChildValue<P>(V[0], p, 1));
      const uint64_t vKeep1 = dcfSelect(am, dcfChildValue<P>(V[1], p, 0), dcfChildValue<P>(V[1], p, 1));
      const uint64_t vLose0 = dcfSelect(am, dcfChildValue<P>(V[0], p, 1), dcfChildValue<P>(V[0], p, 0));
      const uint64_t vLose1 = dcfSelect(am, dcfChildValue<P>(V[1], p, 1), dcfChildValue<P>(V[1], p, 0));
      uint64_t vcw = dcfSignBy(t1, vLose1 - vLose0 - valpha[p]);
      vcw += dcfSignBy(t1, beta[p]) & am;  // Lose = Left exactly when alpha's bit is 1
      valpha[p] = valpha[p] - vKeep1 + vKeep0 + dcfSignBy(t1, vcw);
      k0[(w + 2 + p) * stride] = k1[(w + 2 + p) * stride] = vcw;
    }
    tRight |= l.tCWR << level;
    dcfKeygenStep(l, abit, s, t);
  }
  const int rc = dcfRightControlWordHd(bits, P);
  k0[rc * stride] = k1[rc * stride] = tRight;
  // Convert_0(seed) = its hi word; Convert_1(seed) = H_Value2(seed).lo.
  DcfBlock c2[2] = {s[0], s[1]};
  if (P > 1) {
    TFE_DCF_UNROLL
    for (int b = 0; b < 2; ++b) c2[b] = dcfHash(fk, kDcfValue2, t0, s[b]);
  }
  TFE_DCF_UNROLL
  for (int p = 0; p < P; ++p) {
    const uint64_t c0 = p == 0 ? s[0].hi : c2[0].lo, c1 = p == 0 ? s[1].hi : c2[1].lo;
    const int f = dcfFinalWordHd(bits, P, p);
    k0[f * stride] = k1[f * stride] = dcfSignBy(t[1], c1 - c0 - valpha[p]);
  }
}

// One party's shares y[p] of beta_p [x mod 2^bits < alpha mod 2^bits] from its key k (its
// dcfKeyWords(bits, P) words, word w at k[w * stride]): evalBatch's steps (dcf_eval.cc). x is public, so the walk
// branches on its bits; the control bit t (secret-shared state) is applied with masks.
template <int P>
TFE_HD void dcfEvalElement(const AesRoundKeys* fk, const uint32_t* t0, int bits, uint64_t party, const uint64_t* k,
                           int64_t stride, uint64_t x, uint64_t* y) {
  x &= dcfDomainMaskHd(bits);
  DcfBlock s{k[0], k[stride]};
  uint64_t t = party, acc[P];
  TFE_DCF_UNROLL
  for (int p = 0; p < P; ++p) acc[p] = 0;
  const uint64_t tRightWord = k[dcfRightControlWordHd(bits, P) * stride];
  for (int level = 0; level < bits; ++level) {
    const int shift = bits - 1 - level;
    const int w = dcfLevelWordHd(level, P);
    const uint64_t dir = x >> shift & 1;
    // One payload: H_Value holds both children's value shares; two payloads: the value block of
    // the child x takes (H_Value left, H_Value2 right) holds both payloads'.
    const DcfBlock V = dcfHash(fk, P == 1 ? kDcfValue : (dir ? kDcfValue2 : kDcfValue), t0, s);
    const DcfBlock child = dcfHash(fk, dir ? kDcfRight : kDcfLeft, t0, s);
    const uint64_t tm = dcfMaskOf(t);
    // The correction word for this side: seed CW with that side's control correction in bit 0.
    const uint64_t tcw = dir ? (tRightWord >> level & 1) : (k[w * stride] & 1);
    const uint64_t cwLo = (k[w * stride] & ~uint64_t(1)) | tcw, cwHi = k[(w + 1) * stride];
    const DcfBlock c{child.lo ^ (cwLo & tm), child.hi ^ (cwHi & tm)};
    TFE_DCF_UNROLL
    for (int p = 0; p < P; ++p) {
      const uint64_t v = P == 1 ? (dir ? V.hi : V.lo) : (p ? V.hi : V.lo);
      acc[p] += v + (k[(w + 2 + p) * stride] & tm);
    }
    t = c.lo & 1;
    s = DcfBlock{c.lo & ~uint64_t(1), c.hi};
  }
  const uint64_t pm = dcfMaskOf(party), tm = dcfMaskOf(t);
  const uint64_t conv1 = P > 1 ? dcfHash(fk, kDcfValue2, t0, s).lo : 0;
  TFE_DCF_UNROLL
  for (int p = 0; p < P; ++p) {
    const uint64_t conv = p == 0 ? s.hi : conv1;
    const uint64_t v = acc[p] + conv + (k[dcfFinalWordHd(bits, P, p) * stride] & tm);
    y[p] = (v ^ pm) - pm;  // party 1's share is negated: y0 + y1 = V0 - V1
  }
}

// Value block q of seed s for its child on `side` (0 left, 1 right) in the many-payload DCF
// (dcf.h "Many payloads"): H_Value (left) or H_Value2 (right) of s xor (0 || q).
TFE_HD DcfBlock dcfManyValue(const AesRoundKeys* fk, const uint32_t* t0, uint64_t side, uint64_t q, DcfBlock s) {
  return dcfHash(fk, side ? kDcfValue2 : kDcfValue, t0, DcfBlock{s.lo, s.hi ^ q});
}
TFE_HD uint64_t dcfWord(DcfBlock b, int which) { return which ? b.hi : b.lo; }

// Both parties' many-payload keys for one element (dcf_many.cc's keygenBatch, one element): beta
// holds its P payloads; k0 and k1 its dcfKeyWords(bits, P) words each, word w at k[w * stride].
// The path's running values live in k0's final words until the end (they are written last), so a
// thread needs no scratch of P words.
TFE_HD void dcfKeygenManyElement(const AesRoundKeys* fk, const uint32_t* t0, int bits, int P, uint64_t alpha, const uint64_t* beta,
                                 DcfBlock s0, DcfBlock s1, uint64_t* k0, uint64_t* k1, int64_t stride) {
  const uint64_t domain = dcfDomainMaskHd(bits);
  k0[0] = s0.lo, k0[stride] = s0.hi;
  k1[0] = s1.lo, k1[stride] = s1.hi;
  DcfBlock s[2] = {s0, s1};
  uint64_t t[2] = {0, 1}, tRight = 0;
  const int fw = dcfFinalWordHd(bits, P, 0);
  for (int p = 0; p < P; ++p) k0[(fw + p) * stride] = 0;  // valpha[p]
  for (int level = 0; level < bits; ++level) {
    const int shift = bits - 1 - level;
    const int w = dcfLevelWordHd(level, P);
    const uint64_t abit = (alpha & domain) >> shift & 1, am = dcfMaskOf(abit);
    const uint64_t t1 = t[1];
    for (int q = 0; 2 * q < P; ++q) {
      DcfBlock VL[2], VR[2];
      TFE_DCF_UNROLL
      for (int b = 0; b < 2; ++b) VL[b] = dcfManyValue(fk, t0, 0, q, s[b]), VR[b] = dcfManyValue(fk, t0, 1, q, s[b]);
      for (int p = 2 * q; p < P && p < 2 * q + 2; ++p) {
        const int h = p & 1;
        const uint64_t vKeep0 = dcfSelect(am, dcfWord(VL[0], h), dcfWord(VR[0], h));
        const uint64_t vKeep1 = dcfSelect(am, dcfWord(VL[1], h), dcfWord(VR[1], h));
        const uint64_t vLose0 = dcfSelect(am, dcfWord(VR[0], h), dcfWord(VL[0], h));
        const uint64_t vLose1 = dcfSelect(am, dcfWord(VR[1], h), dcfWord(VL[1], h));
        const uint64_t va = k0[(fw + p) * stride];
        uint64_t vcw = dcfSignBy(t1, vLose1 - vLose0 - va);
        vcw += dcfSignBy(t1, beta[p]) & am;
        k0[(fw + p) * stride] = va - vKeep1 + vKeep0 + dcfSignBy(t1, vcw);
        k0[(w + 2 + p) * stride] = k1[(w + 2 + p) * stride] = vcw;
      }
    }
    const DcfSeedLevel l = dcfKeygenSeedLevel(fk, t0, s, abit, k0, k1, w, stride);
    tRight |= l.tCWR << level;
    dcfKeygenStep(l, abit, s, t);
  }
  const int rc = dcfRightControlWordHd(bits, P);
  k0[rc * stride] = k1[rc * stride] = tRight;
  // Convert_0 = the seed's hi word; Convert_p = word (p - 1) mod 2 of H_Value2(s xor (0 || (p - 1) / 2)).
  k0[fw * stride] = k1[fw * stride] = dcfSignBy(t[1], s[1].hi - s[0].hi - k0[fw * stride]);
  for (int q = 0; 2 * q + 1 < P; ++q) {
    const DcfBlock c0 = dcfManyValue(fk, t0, 1, q, s[0]), c1 = dcfManyValue(fk, t0, 1, q, s[1]);
    for (int p = 2 * q + 1; p < P && p < 2 * q + 3; ++p) {
      const int h = (p - 1) & 1, f = fw + p;
      k0[f * stride] = k1[f * stride] = dcfSignBy(t[1], dcfWord(c1, h) - dcfWord(c0, h) - k0[f * stride]);
    }
  }
}

// One party's shares y[0..P) of a many-payload key at public x (dcf_many.cc's evalBatch, one element).
TFE_HD void dcfEvalManyElement(const AesRoundKeys* fk, const uint32_t* t0, int bits, int P, uint64_t party, const uint64_t* k,
                               int64_t stride, uint64_t x, uint64_t* y) {
  x &= dcfDomainMaskHd(bits);
  DcfBlock s{k[0], k[stride]};
  uint64_t t = party;
  for (int p = 0; p < P; ++p) y[p] = 0;
  const uint64_t tRightWord = k[dcfRightControlWordHd(bits, P) * stride];
  for (int level = 0; level < bits; ++level) {
    const int shift = bits - 1 - level;
    const int w = dcfLevelWordHd(level, P);
    const uint64_t dir = x >> shift & 1, tm = dcfMaskOf(t);
    for (int q = 0; 2 * q < P; ++q) {
      const DcfBlock V = dcfManyValue(fk, t0, dir, q, s);
      for (int p = 2 * q; p < P && p < 2 * q + 2; ++p) y[p] += dcfWord(V, p & 1) + (k[(w + 2 + p) * stride] & tm);
    }
    const DcfBlock child = dcfHash(fk, dir ? kDcfRight : kDcfLeft, t0, s);
    const uint64_t tcw = dir ? (tRightWord >> level & 1) : (k[w * stride] & 1);
    const uint64_t cwLo = (k[w * stride] & ~uint64_t(1)) | tcw, cwHi = k[(w + 1) * stride];
    const DcfBlock c{child.lo ^ (cwLo & tm), child.hi ^ (cwHi & tm)};
    t = c.lo & 1;
    s = DcfBlock{c.lo & ~uint64_t(1), c.hi};
  }
  const uint64_t pm = dcfMaskOf(party), tm = dcfMaskOf(t);
  const int fw = dcfFinalWordHd(bits, P, 0);
  y[0] += s.hi + (k[fw * stride] & tm);
  for (int q = 0; 2 * q + 1 < P; ++q) {
    const DcfBlock V = dcfManyValue(fk, t0, 1, q, s);
    for (int p = 2 * q + 1; p < P && p < 2 * q + 3; ++p) y[p] += dcfWord(V, (p - 1) & 1) + (k[(fw + p) * stride] & tm);
  }
  for (int p = 0; p < P; ++p) y[p] = (y[p] ^ pm) - pm;  // party 1's share is negated
}

// The one-bit DCF (fss/dcf_bit.h) for one element: both parties' keys from the drawn root blocks
// d0, d1 (dcfRootSeeds) and the offset bit w (word w of a key at k[w * stride], dcf.h "Tiles"),
// the per-level and leaf steps being dcf_bit.h's own
// TFE_HD functions, so the CPU kernels (dcf_bit.cc) and this walk share every line but the hashing.
TFE_HD void dcfBitKeygenElement(const AesRoundKeys* fk, const uint32_t* t0, int bits, uint64_t alpha, uint64_t w, DcfBlock d0,
                                DcfBlock d1, uint64_t* k0, uint64_t* k1, int64_t stride) {
  const uint64_t domain = dcfDomainMaskHd(bits);
  fss::DcfBitDealer st;
  fss::dcfBitKeygenRoot(st, d0.lo, d0.hi, d1.lo, d1.hi, w, k0, k1, stride);
  uint64_t vcws = 0;
  const int levels = static_cast<int>(fss::dcfBitLevels(bits));
  for (int level = 0; level < levels; ++level) {
    uint64_t Llo[2], Lhi[2], Rlo[2], Rhi[2];
    TFE_DCF_UNROLL
    for (int b = 0; b < 2; ++b) {
      const DcfBlock s{st.sLo[b], st.sHi[b]};
      const DcfBlock L = dcfHash(fk, kDcfLeft, t0, s), R = dcfHash(fk, kDcfRight, t0, s);
      Llo[b] = L.lo, Lhi[b] = L.hi, Rlo[b] = R.lo, Rhi[b] = R.hi;
    }
    uint64_t cwLo, cwHi, vcw;
    fss::dcfBitKeygenLevel(st, Llo, Lhi, Rlo, Rhi, (alpha & domain) >> (bits - 1 - level) & 1, cwLo, cwHi, vcw);
    const int64_t lw = fss::dcfBitLevelWord(level);
    k0[lw * stride] = k1[lw * stride] = cwLo;
    k0[(lw + 1) * stride] = k1[(lw + 1) * stride] = cwHi;
    vcws |= vcw << level;
  }
  const int64_t vw = fss::dcfBitValueWord(bits), leafW = fss::dcfBitLeafWord(bits);
  k0[vw * stride] = k1[vw * stride] = vcws;
  const DcfBlock h0 = dcfHash(fk, kDcfValue, t0, DcfBlock{st.sLo[0], st.sHi[0]});
  const DcfBlock h1 = dcfHash(fk, kDcfValue, t0, DcfBlock{st.sLo[1], st.sHi[1]});
  uint64_t cwLo, cwHi;
  fss::dcfBitKeygenLeaf(st, h0.lo, h0.hi, h1.lo, h1.hi, alpha & fss::dcfBitLeafMask(bits), cwLo, cwHi);
  k0[leafW * stride] = k1[leafW * stride] = cwLo;
  k0[(leafW + 1) * stride] = k1[(leafW + 1) * stride] = cwHi;
}

// One party's output bit of the one-bit DCF at public x (dcf_bit.cc's evalBatch, one element).
TFE_HD uint8_t dcfBitEvalElement(const AesRoundKeys* fk, const uint32_t* t0, int bits, uint64_t party, const uint64_t* k, int64_t stride,
                                 uint64_t x) {
  x &= dcfDomainMaskHd(bits);
  fss::DcfBitWalker st;
  fss::dcfBitEvalRoot(st, k, stride, party);
  const int levels = static_cast<int>(fss::dcfBitLevels(bits));
  for (int level = 0; level < levels; ++level) {
    const uint64_t dir = x >> (bits - 1 - level) & 1;
    const DcfBlock child = dcfHash(fk, dir ? kDcfRight : kDcfLeft, t0, DcfBlock{st.sLo, st.sHi});
    fss::dcfBitEvalLevel(st, k, stride, bits, level, dir, child.lo, child.hi);
  }
  const DcfBlock h = dcfHash(fk, kDcfValue, t0, DcfBlock{st.sLo, st.sHi});
  return static_cast<uint8_t>(fss::dcfBitEvalLeaf(st, k, stride, bits, h.lo, h.hi, x & fss::dcfBitLeafMask(bits)));
}

}  // namespace cuda
}  // namespace tfe
