// DcfKeygenMany / DcfEvalMany: the DCF with P payloads on one tree (construction and key layout in
// dcf.h, "Many payloads"). A folded product (lib/protocol/fss/folded_product.ts) needs, per gate
// element, 2k payloads that all compare with the same threshold; one tree for them costs one seed
// walk plus P / 2 value blocks per level, and a key of (2 + P) words per level, where k
// two-payload keys cost k walks of two blocks and 4k words per level.
//
// DcfKeygenMany: inputs alpha [n] ring64, beta [n, P] ring64 (1 <= P <= kDcfMaxPayloads); attrs
// as DcfKeygen (bits, seed, nonce, first, impl). Outputs key0, key1 [n, dcfKeyWords(bits, P)],
// tiled (dcf.h "Tiles"). Randomness: the root seeds only, read from the PRG stream exactly as
// DcfKeygen's (element j: blocks 2 (first + j) and 2 (first + j) + 1).
// DcfEvalMany: inputs key [n, dcfKeyWords(bits, P)], x [n]; attrs bits, party, payloads = P,
// impl. Output y [n, P] with y0 + y1 = beta [x mod 2^bits < alpha mod 2^bits] row by row.
//
// A thread takes batches of kBatch elements and walks them level by level, so that every hash
// call is one pipelined AES pass over the batch (VAES / AES-NI inside hashBlocks). The dealer's
// walk selects with masks on alpha's bits, never branches (its timing must not depend on the
// secret it shares); an evaluation branches only on x, which is public.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "fss/dcf.h"
#include "fss/dcf_args.h"
#include "fss/dcf_many_avx512.h"
#include "fss/fixed_key_aes.h"
#include "kernels/check.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {

DcfKeygenArgs parseDcfKeygenMany(const std::string& op, const Inputs& in, const Attrs& at) {
  const Tensor &alpha = in[0], &beta = in[1];
  requireDType(op, alpha, DType::Ring64, "alpha");
  requireRank(op, alpha, 1, "alpha");
  requireDType(op, beta, DType::Ring64, "beta");
  requireRank(op, beta, 2, "beta");
  if (beta.shape[0] != alpha.shape[0])
    throw KernelError(op + ": beta " + shapeStr(beta.shape) + " must have one row per element of alpha " + shapeStr(alpha.shape));
  if (beta.shape[1] < 1 || beta.shape[1] > kDcfMaxPayloads)
    throw KernelError(op + ": beta must have 1 to " + std::to_string(kDcfMaxPayloads) + " payloads per element, got " + std::to_string(beta.shape[1]));
  return parseDcfKeygenAttrs(op, static_cast<uint64_t>(alpha.shape[0]), at);
}

DcfEvalArgs parseDcfEvalMany(const std::string& op, const Inputs& in, const Attrs& at, int* payloads) {
  if (!at.has("payloads")) throw KernelError(op + ": missing attribute 'payloads' (1.." + std::to_string(kDcfMaxPayloads) + ")");
  const int64_t P = at.getInt("payloads");
  if (P < 1 || P > kDcfMaxPayloads)
    throw KernelError(op + ": payloads must be in [1, " + std::to_string(kDcfMaxPayloads) + "], got " + std::to_string(P));
  *payloads = static_cast<int>(P);
  return parseDcfEval(op, *payloads, in, at);
}

namespace {

constexpr int kBatch = 32;
// An evaluation splits its batch by the child each element takes, and the VAES hash takes
// sixteen seeds at a time: a larger batch keeps both sides' passes mostly in full groups.
constexpr int kEvalBatch = 128;
static_assert(kBatch % kDcfTile == 0 && kEvalBatch % kDcfTile == 0, "a batch is whole key tiles");
static_assert(kBatch == kDcfManyBatch, "the wide keygen walk takes the scalar walk's whole batches");

inline uint64_t maskOf(uint64_t bit) { return uint64_t(0) - (bit & 1); }  // 0 or all ones
inline Block select(uint64_t m, Block a, Block b) { return Block{(a.lo & ~m) | (b.lo & m), (a.hi & ~m) | (b.hi & m)}; }
inline uint64_t select(uint64_t m, uint64_t a, uint64_t b) { return (a & ~m) | (b & m); }
inline uint64_t signBy(uint64_t t, uint64_t v) { uint64_t m = maskOf(t); return (v ^ m) - m; }
inline uint64_t word(const Block& b, int which) { return which ? b.hi : b.lo; }

// Both parties' keys for elements [first, first + count), count <= kBatch.
void keygenBatch(const DcfKeygenArgs& a, int P, int64_t n, int64_t first, int count, const uint64_t* alphaIn, const uint64_t* betaIn,
                 uint64_t* key0, uint64_t* key1) {
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits, P);
  const uint64_t domain = dcfDomainMask(bits);
  const int blocks = (P + 1) / 2;
  // Party 0's seed of element e at 2e, party 1's at 2e + 1 (the PRG stream's order).
  Block s[2 * kBatch], L[2 * kBatch], R[2 * kBatch];
  Block sKeep[2 * kBatch], sCW[kBatch];
  // Every value block of a level, both parties' seeds: block q of seed j at q * 2 count + j.
  const size_t all = static_cast<size_t>(2 * count) * blocks;
  thread_local std::vector<Block> VL, VR;
  thread_local std::vector<uint64_t> valpha;
  VL.resize(all), VR.resize(all);
  Block *vl = VL.data(), *vr = VR.data();  // one TLS lookup each
  uint64_t t[2 * kBatch], tL[2 * kBatch], tR[2 * kBatch], tCWL[kBatch], tCWR[kBatch], am[kBatch], tRight[kBatch];
  valpha.assign(static_cast<size_t>(P) * count, 0);  // valpha[e * P + p]: the path's value so far
  uint64_t* va0 = valpha.data();
  dcfRootKeys(a, n, K, first, count, s, key0, key1);
  for (int e = 0; e < count; ++e) {
    t[2 * e] = 0, t[2 * e + 1] = 1;
    tRight[e] = 0;
  }
  for (int level = 0; level < bits; ++level) {
    hashBlocks(HashKey::Left, s, L, 2 * count, a.impl);
    hashBlocks(HashKey::Right, s, R, 2 * count, a.impl);
    const int shift = bits - 1 - level;
    const int64_t w = dcfLevelWord(level, P);
    // Seed and control corrections (dcf_keygen.cc says why each is what it is).
    for (int e = 0; e < count; ++e) {
      const uint64_t abit = (alphaIn[first + e] & domain) >> shift & 1;
      am[e] = maskOf(abit);
      Block sLose[2];
      for (int b = 0; b < 2; ++b) {
        const int j = 2 * e + b;
        tL[j] = L[j].lo & 1, tR[j] = R[j].lo & 1;
        const Block sL{L[j].lo & ~uint64_t(1), L[j].hi}, sR{R[j].lo & ~uint64_t(1), R[j].hi};
        sKeep[j] = select(am[e], sL, sR);  // the child on alpha's path
        sLose[b] = select(am[e], sR, sL);
      }
      sCW[e] = Block{sLose[0].lo ^ sLose[1].lo, sLose[0].hi ^ sLose[1].hi};
      tCWL[e] = tL[2 * e] ^ tL[2 * e + 1] ^ abit ^ 1, tCWR[e] = tR[2 * e] ^ tR[2 * e + 1] ^ abit;
      const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
      k0[w] = k1[w] = sCW[e].lo | tCWL[e];
      k0[w + 1] = k1[w + 1] = sCW[e].hi;
      tRight[e] |= tCWR[e] << level;
    }
    // Value corrections, two payloads per tweak, every block of the level in one pass per side
    // (block q of seed j at q * 2 count + j): the seeds are still this level's.
    hashTweaks(HashKey::Value, s, 2 * count, blocks, vl, a.impl);
    hashTweaks(HashKey::Value2, s, 2 * count, blocks, vr, a.impl);
    const size_t stride = static_cast<size_t>(2 * count);
    for (int e = 0; e < count; ++e) {
      const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
      const uint64_t m = am[e], t1 = t[2 * e + 1];
      // Payload p's value shares: word p mod 2 of block p / 2 (stride: both parties' seeds), each
      // party's left (l) and right (r) child; the key's words walked by pointer (stride: tile rows).
      const uint64_t* lw[2] = {&vl[2 * e].lo, &vl[2 * e + 1].lo};
      const uint64_t* rw[2] = {&vr[2 * e].lo, &vr[2 * e + 1].lo};
      const int64_t ks = k0.stride;
      uint64_t *kp0 = k0.p + (w + 2) * ks, *kp1 = k1.p + (w + 2) * ks;
      uint64_t* va = va0 + static_cast<size_t>(e) * P;
      const uint64_t* beta = betaIn + (first + e) * P;
      const uint64_t sm = maskOf(t1);  // signBy(t1, v) = (v ^ sm) - sm
      for (int p = 0; p < P; ++p, kp0 += ks, kp1 += ks) {
        const size_t o = static_cast<size_t>(p >> 1) * 2 * stride + (p & 1);  // in words
        const uint64_t L0 = lw[0][o], L1 = lw[1][o], R0 = rw[0][o], R1 = rw[1][o];
        // Keep is the right child when alpha's bit is 1; Lose = Left exactly then.
        const uint64_t vKeep0 = select(m, L0, R0), vKeep1 = select(m, L1, R1);
        const uint64_t vLose0 = select(m, R0, L0), vLose1 = select(m, R1, L1);
        uint64_t vcw = ((vLose1 - vLose0 - va[p]) ^ sm) - sm;
        vcw += ((beta[p] ^ sm) - sm) & m;
        va[p] = va[p] - vKeep1 + vKeep0 + ((vcw ^ sm) - sm);
        *kp0 = *kp1 = vcw;
      }
    }
    for (int e = 0; e < count; ++e) {
      const uint64_t tCWKeep = select(am[e], tCWL[e], tCWR[e]);
      for (int b = 0; b < 2; ++b) {
        const int j = 2 * e + b;
        const uint64_t tm = maskOf(t[j]);
        s[j] = Block{sKeep[j].lo ^ (sCW[e].lo & tm), sKeep[j].hi ^ (sCW[e].hi & tm)};
        t[j] = select(am[e], tL[j], tR[j]) ^ (t[j] & tCWKeep);
      }
    }
  }
  // Final corrections: Convert_0 = the seed's hi word, Convert_p = word (p - 1) mod 2 of
  // H_Value2(s xor (0 || (p - 1) / 2)).
  for (int e = 0; e < count; ++e) {
    const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
    k0[dcfRightControlWord(bits, P)] = k1[dcfRightControlWord(bits, P)] = tRight[e];
    const uint64_t& va = valpha[static_cast<size_t>(e) * P];
    k0[dcfFinalWord(bits, P, 0)] = k1[dcfFinalWord(bits, P, 0)] = signBy(t[2 * e + 1], s[2 * e + 1].hi - s[2 * e].hi - va);
  }
  const size_t convBlocks = static_cast<size_t>(P) / 2;  // blocks for payloads 1 .. P - 1
  if (convBlocks > 0) hashTweaks(HashKey::Value2, s, 2 * count, convBlocks, vr, a.impl);
  for (int e = 0; e < count; ++e) {
    const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
    for (int p = 1; p < P; ++p) {
      const Block* c = vr + static_cast<size_t>((p - 1) >> 1) * 2 * count + 2 * e;
      const int h = (p - 1) & 1;
      const uint64_t va = va0[static_cast<size_t>(e) * P + p];
      k0[dcfFinalWord(bits, P, p)] = k1[dcfFinalWord(bits, P, p)] = signBy(t[2 * e + 1], word(c[1], h) - word(c[0], h) - va);
    }
  }
  // Wipe the walk's secrets (the dealer's alpha path is in them).
  for (Block* buf : {s, sKeep, L, R}) {
    volatile uint64_t* wipe = reinterpret_cast<volatile uint64_t*>(buf);
    for (size_t i = 0; i < 2 * kBatch * 2; ++i) wipe[i] = 0;
  }
  for (std::vector<Block>* buf : {&VL, &VR}) {
    volatile uint64_t* wipe = reinterpret_cast<volatile uint64_t*>(buf->data());
    for (size_t i = 0; i < 2 * buf->size(); ++i) wipe[i] = 0;
  }
  volatile uint64_t* wipe = valpha.data();
  for (size_t i = 0; i < valpha.size(); ++i) wipe[i] = 0;
}

// One party's shares of elements [first, first + count) into rows of y [n, P]. Per level the
// elements are split by the child x takes, so that each side's value blocks are one pass of one
// fixed key (hashTweaks: the seeds tweaked in registers), not a key chosen per block.
void evalBatch(const DcfEvalArgs& a, int P, int64_t n, int64_t first, int count, const uint64_t* keys, const uint64_t* xIn, uint64_t* y) {
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits, P);
  const uint64_t domain = dcfDomainMask(bits);
  const size_t blocks = static_cast<size_t>(P + 1) / 2;
  Block s[kEvalBatch] = {}, child[kEvalBatch], side[2][kEvalBatch];
  uint8_t dir[kEvalBatch] = {};
  uint64_t t[kEvalBatch], tm[kEvalBatch], x[kEvalBatch];
  int at[kEvalBatch], sideCount[2];  // element e's place within its side's seeds
  thread_local std::vector<Block> valueBuf;
  valueBuf.resize(2 * blocks * kEvalBatch);
  Block* values[2] = {valueBuf.data(), valueBuf.data() + blocks * kEvalBatch};  // plain pointers: one TLS lookup
  for (int e = 0; e < count; ++e) {
    const KeyRow<const uint64_t> k = keyRow(keys, n, K, first + e);
    s[e] = Block{k[0], k[1]};
    t[e] = a.party;
    x[e] = xIn[first + e] & domain;
    std::fill(y + (first + e) * P, y + (first + e + 1) * P, uint64_t(0));
  }
  for (int level = 0; level < bits; ++level) {
    const int shift = bits - 1 - level;
    const int64_t w = dcfLevelWord(level, P);
    sideCount[0] = sideCount[1] = 0;
    for (int e = 0; e < count; ++e) {
      dir[e] = static_cast<uint8_t>(x[e] >> shift & 1), tm[e] = maskOf(t[e]);
      at[e] = sideCount[dir[e]]++;
      side[dir[e]][at[e]] = s[e];
    }
    hashChildren(s, dir, child, count, a.impl);
    // The value blocks of the child x takes: H_Value (left) or H_Value2 (right) of s xor (0 || q).
    if (sideCount[0]) hashTweaks(HashKey::Value, side[0], sideCount[0], blocks, values[0], a.impl);
    if (sideCount[1]) hashTweaks(HashKey::Value2, side[1], sideCount[1], blocks, values[1], a.impl);
    for (int e = 0; e < count; ++e) {
      const KeyRow<const uint64_t> k = keyRow(keys, n, K, first + e);
      const uint64_t m = tm[e];
      // Two payloads per value block: walk the blocks (stride: the side's seeds) and the key's
      // value corrections (stride: the tile's rows) with pointers, not an index product per word.
      const Block* v = values[dir[e]] + at[e];
      const size_t stride = static_cast<size_t>(sideCount[dir[e]]);
      const int64_t ks = k.stride;
      const uint64_t* kp = k.p + (w + 2) * ks;
      uint64_t* row = y + (first + e) * P;
      int p = 0;
      for (; p + 1 < P; p += 2, v += stride, kp += 2 * ks) {
        row[p] += v->lo + (kp[0] & m);
        row[p + 1] += v->hi + (kp[ks] & m);
      }
      if (p < P) row[p] += v->lo + (kp[0] & m);
      const uint64_t tcw = dir[e] ? (k[dcfRightControlWord(bits, P)] >> level & 1) : (k[w] & 1);
      const uint64_t cwLo = (k[w] & ~uint64_t(1)) | tcw, cwHi = k[w + 1];
      const Block c{child[e].lo ^ (cwLo & m), child[e].hi ^ (cwHi & m)};
      t[e] = c.lo & 1;
      s[e] = Block{c.lo & ~uint64_t(1), c.hi};
    }
  }
  // Conversions: payload 0 from the seed's hi word, payload p >= 1 from word (p - 1) mod 2 of
  // H_Value2(s xor (0 || (p - 1) / 2)); then the final corrections where t is set.
  const size_t convBlocks = static_cast<size_t>(P) / 2;
  if (convBlocks > 0) hashTweaks(HashKey::Value2, s, count, convBlocks, values[0], a.impl);
  const uint64_t pm = maskOf(a.party);
  const int64_t fw = dcfFinalWord(bits, P, 0);
  for (int e = 0; e < count; ++e) {
    const KeyRow<const uint64_t> k = keyRow(keys, n, K, first + e);
    const uint64_t m = maskOf(t[e]);
    uint64_t* row = y + (first + e) * P;
    row[0] += s[e].hi;
    for (int p = 1; p < P; ++p) row[p] += word(values[0][((p - 1) >> 1) * count + e], (p - 1) & 1);
    // Party 1's share is negated: y0 + y1 = V0 - V1.
    for (int p = 0; p < P; ++p) row[p] = ((row[p] + (k[fw + p] & m)) ^ pm) - pm;
  }
}

Outputs dcfKeygenMany(const Inputs& in, const Attrs& at) {
  const DcfKeygenArgs a = parseDcfKeygenMany("DcfKeygenMany", in, at);
  const int64_t n = in[0].shape[0];
  const int P = static_cast<int>(in[1].shape[1]);
  const int64_t K = dcfKeyWords(a.bits, P);
  Tensor key0 = allocTensor({n, K}, DType::Ring64), key1 = allocTensor({n, K}, DType::Ring64);
  const uint64_t *alpha = in[0].ptr<uint64_t>(), *beta = in[1].ptr<uint64_t>();
  uint64_t *k0 = key0.ptr<uint64_t>(), *k1 = key1.ptr<uint64_t>();
  // Whole batches of 32 take the wide walk where the CPU has it (dcf_many_avx512.cc); impl
  // 'portable' keeps the scalar one (the tests compare both).
  const bool wide = dcfKeygenManyWideAvailable() && a.impl != AesImpl::Portable;
  forEachKeyBatch(n, kBatch, [&](int64_t e, int count, int64_t) {
    if (wide && count == kDcfManyBatch) dcfKeygenManyBatchWide(a, P, n, e, alpha, beta, k0, k1);
    else keygenBatch(a, P, n, e, count, alpha, beta, k0, k1);
  });
  return {key0, key1};
}

Outputs dcfEvalMany(const Inputs& in, const Attrs& at) {
  int P = 0;
  const DcfEvalArgs a = parseDcfEvalMany("DcfEvalMany", in, at, &P);
  const int64_t n = in[1].shape[0];
  Tensor y = allocTensor({n, P}, DType::Ring64);
  const uint64_t *keys = in[0].ptr<uint64_t>(), *x = in[1].ptr<uint64_t>();
  uint64_t* out = y.ptr<uint64_t>();
  // Whole batches of 32 take the wide walk where the CPU has it (dcf_many_avx512.cc), the rest
  // the scalar one.
  if (dcfEvalManyWideAvailable(a.impl))
    forEachKeyBatch(n, kDcfManyBatch, [&](int64_t e, int count, int64_t end) {
      if (count == kDcfManyBatch) dcfEvalManyBatchWide(a, P, e, keys, x, out, end);
      else evalBatch(a, P, n, e, count, keys, x, out);
    });
  else
    forEachKeyBatch(n, kEvalBatch, [&](int64_t e, int count, int64_t) { evalBatch(a, P, n, e, count, keys, x, out); });
  return {y};
}

TFE_REGISTER_KERNEL("DcfKeygenMany", 2, dcfKeygenMany);
TFE_REGISTER_KERNEL("DcfEvalMany", 2, dcfEvalMany);

}  // namespace
}  // namespace fss
}  // namespace tfe
