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
static_assert(kBatch % kDcfTile == 0, "a batch is whole key tiles");

inline uint64_t maskOf(uint64_t bit) { return uint64_t(0) - (bit & 1); }  // 0 or all ones
inline Block select(uint64_t m, Block a, Block b) { return Block{(a.lo & ~m) | (b.lo & m), (a.hi & ~m) | (b.hi & m)}; }
inline uint64_t select(uint64_t m, uint64_t a, uint64_t b) { return (a & ~m) | (b & m); }
inline uint64_t signBy(uint64_t t, uint64_t v) { uint64_t m = maskOf(t); return (v ^ m) - m; }
inline uint64_t word(const Block& b, int which) { return which ? b.hi : b.lo; }

// out[j] = H_k(in[j] xor (0 || q)): value block q (dcf.h "Many payloads").
void hashTweaked(HashKey k, const Block* in, uint64_t q, Block* tmp, Block* out, int count, AesImpl impl) {
  for (int j = 0; j < count; ++j) tmp[j] = Block{in[j].lo, in[j].hi ^ q};
  hashBlocks(k, tmp, out, static_cast<size_t>(count), impl);
}

// Both parties' keys for elements [first, first + count), count <= kBatch.
void keygenBatch(const DcfKeygenArgs& a, int P, int64_t n, int64_t first, int count, const uint64_t* alphaIn, const uint64_t* betaIn,
                 uint64_t* key0, uint64_t* key1, std::vector<uint64_t>& valpha) {
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits, P);
  const uint64_t domain = dcfDomainMask(bits);
  const int blocks = (P + 1) / 2;
  // Party 0's seed of element e at 2e, party 1's at 2e + 1 (the PRG stream's order).
  Block s[2 * kBatch], L[2 * kBatch], R[2 * kBatch], tmp[2 * kBatch];
  Block sKeep[2 * kBatch], sCW[kBatch];
  // Every value block of a level, both parties' seeds: block q of seed j at j * blocks + q.
  const size_t all = static_cast<size_t>(2 * count) * blocks;
  thread_local std::vector<Block> tweaked, VL, VR;
  tweaked.resize(all), VL.resize(all), VR.resize(all);
  Block *tw = tweaked.data(), *vl = VL.data(), *vr = VR.data();  // one TLS lookup each
  uint64_t t[2 * kBatch], tL[2 * kBatch], tR[2 * kBatch], tCWL[kBatch], tCWR[kBatch], am[kBatch], tRight[kBatch];
  valpha.assign(static_cast<size_t>(P) * count, 0);  // valpha[e * P + p]: the path's value so far
  uint64_t* va0 = valpha.data();
  aesCtrBlocks(a.prgKey, a.iv, 2 * (a.first + static_cast<uint64_t>(first)), 2 * static_cast<uint64_t>(count),
               reinterpret_cast<uint8_t*>(s), a.impl);
  for (int e = 0; e < count; ++e) {
    const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
    k0[0] = s[2 * e].lo, k0[1] = s[2 * e].hi;
    k1[0] = s[2 * e + 1].lo, k1[1] = s[2 * e + 1].hi;
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
    // (block q of seed j at j * blocks + q): the seeds are still this level's.
    for (int j = 0; j < 2 * count; ++j)
      for (int q = 0; q < blocks; ++q) tw[static_cast<size_t>(j) * blocks + q] = Block{s[j].lo, s[j].hi ^ static_cast<uint64_t>(q)};
    hashBlocks(HashKey::Value, tw, vl, all, a.impl);
    hashBlocks(HashKey::Value2, tw, vr, all, a.impl);
    for (int e = 0; e < count; ++e) {
      const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
      const uint64_t m = am[e], t1 = t[2 * e + 1];
      const Block *l0 = vl + static_cast<size_t>(2 * e) * blocks, *l1 = l0 + blocks, *r0 = vr + static_cast<size_t>(2 * e) * blocks, *r1 = r0 + blocks;
      for (int p = 0; p < P; ++p) {
        const int h = p & 1, q = p >> 1;
        // Keep is the right child when alpha's bit is 1.
        const uint64_t vKeep0 = select(m, word(l0[q], h), word(r0[q], h));
        const uint64_t vKeep1 = select(m, word(l1[q], h), word(r1[q], h));
        const uint64_t vLose0 = select(m, word(r0[q], h), word(l0[q], h));
        const uint64_t vLose1 = select(m, word(r1[q], h), word(l1[q], h));
        uint64_t& va = va0[static_cast<size_t>(e) * P + p];
        uint64_t vcw = signBy(t1, vLose1 - vLose0 - va);
        vcw += signBy(t1, betaIn[(first + e) * P + p]) & m;  // Lose = Left exactly when alpha's bit is 1
        va = va - vKeep1 + vKeep0 + signBy(t1, vcw);
        k0[w + 2 + p] = k1[w + 2 + p] = vcw;
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
  for (int q = 0; 2 * q + 1 < P; ++q) {
    hashTweaked(HashKey::Value2, s, static_cast<uint64_t>(q), tmp, R, 2 * count, a.impl);
    for (int e = 0; e < count; ++e) {
      const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
      for (int p = 2 * q + 1; p < std::min(P, 2 * q + 3); ++p) {
        const int h = (p - 1) & 1;
        const uint64_t va = valpha[static_cast<size_t>(e) * P + p];
        k0[dcfFinalWord(bits, P, p)] = k1[dcfFinalWord(bits, P, p)] = signBy(t[2 * e + 1], word(R[2 * e + 1], h) - word(R[2 * e], h) - va);
      }
    }
  }
  // Wipe the walk's secrets (the dealer's alpha path is in them).
  for (Block* buf : {s, sKeep, tmp, L, R}) {
    volatile uint64_t* wipe = reinterpret_cast<volatile uint64_t*>(buf);
    for (size_t i = 0; i < 2 * kBatch * 2; ++i) wipe[i] = 0;
  }
  for (std::vector<Block>* buf : {&tweaked, &VL, &VR}) {
    volatile uint64_t* wipe = reinterpret_cast<volatile uint64_t*>(buf->data());
    for (size_t i = 0; i < 2 * buf->size(); ++i) wipe[i] = 0;
  }
  volatile uint64_t* wipe = valpha.data();
  for (size_t i = 0; i < valpha.size(); ++i) wipe[i] = 0;
}

// acc[p * kBatch + e] += (value word p of element e) + (key word `word` + p of element e & tm[e])
// for e < count: the key's tiles make word w of a tile's eight elements one line, so the inner
// loop over a tile's elements is one vector add.
inline void addTile(uint64_t* acc, const Block* vq, int h, const uint64_t* line, const uint64_t* tm, int rows) {
  for (int j = 0; j < rows; ++j) acc[j] += (h ? vq[j].hi : vq[j].lo) + (line[j] & tm[j]);
}

// One party's shares of elements [first, first + count) into rows of y [n, P]. The running sums
// are payload-major (acc[p * kBatch + e]) and the value blocks too (block q of element e at
// q * count + e), so that a level's updates run over a tile's elements in lockstep.
void evalBatch(const DcfEvalArgs& a, int P, int64_t n, int64_t first, int count, const uint64_t* keys, const uint64_t* xIn, uint64_t* y) {
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits, P);
  const uint64_t domain = dcfDomainMask(bits);
  const int blocks = (P + 1) / 2;
  Block s[kBatch] = {}, child[kBatch];
  uint8_t dir[kBatch] = {};
  uint64_t t[kBatch], tm[kBatch], x[kBatch];
  const size_t all = static_cast<size_t>(count) * blocks;
  thread_local std::vector<Block> tweaked, values;
  thread_local std::vector<uint8_t> dirs;
  thread_local std::vector<uint64_t> accBuf;
  tweaked.resize(all), values.resize(all), dirs.resize(all);
  accBuf.assign(static_cast<size_t>(P) * kBatch, 0);
  // Plain pointers: every access to a thread_local in a shared library is a TLS lookup.
  uint64_t* acc = accBuf.data();
  Block *tw = tweaked.data(), *vals = values.data();
  uint8_t* ds = dirs.data();
  for (int e = 0; e < count; ++e) {
    const KeyRow<const uint64_t> k = keyRow(keys, n, K, first + e);
    s[e] = Block{k[0], k[1]};
    t[e] = a.party;
    x[e] = xIn[first + e] & domain;
  }
  // Tile i of the batch: its first element's word 0 and its rows (a batch starts on a tile).
  const int tiles = (count + kDcfTile - 1) / kDcfTile;
  const uint64_t* tileBase[kBatch / kDcfTile];
  int tileRows[kBatch / kDcfTile];
  for (int i = 0; i < tiles; ++i) {
    tileBase[i] = keys + dcfKeyOffset(K, first + i * kDcfTile);
    tileRows[i] = static_cast<int>(dcfTileRows(n, first + i * kDcfTile));
  }
  // Adds value word p and key word `word` + p of every element, for every payload p.
  auto addAll = [&](int64_t word, int valueShift) {
    for (int p = 0; p < P; ++p) {
      const int q = (p + valueShift) >> 1, h = (p + valueShift) & 1;
      for (int i = 0; i < tiles; ++i)
        addTile(acc + static_cast<size_t>(p) * kBatch + i * kDcfTile, vals + static_cast<size_t>(q) * count + i * kDcfTile, h,
                tileBase[i] + (word + p) * tileRows[i], tm + i * kDcfTile, tileRows[i]);
    }
  };
  for (int level = 0; level < bits; ++level) {
    const int shift = bits - 1 - level;
    const int64_t w = dcfLevelWord(level, P);
    for (int e = 0; e < count; ++e) dir[e] = static_cast<uint8_t>(x[e] >> shift & 1), tm[e] = maskOf(t[e]);
    hashChildren(s, dir, child, count, a.impl);
    // The value blocks of the child x takes: H_Value (left) or H_Value2 (right) of s xor (0 || q).
    for (int q = 0; q < blocks; ++q)
      for (int e = 0; e < count; ++e) {
        tw[static_cast<size_t>(q) * count + e] = Block{s[e].lo, s[e].hi ^ static_cast<uint64_t>(q)};
        ds[static_cast<size_t>(q) * count + e] = dir[e];
      }
    hashEither(HashKey::Value, HashKey::Value2, tw, ds, vals, all, a.impl);
    addAll(w + 2, 0);
    for (int e = 0; e < count; ++e) {
      const KeyRow<const uint64_t> k = keyRow(keys, n, K, first + e);
      const uint64_t tcw = dir[e] ? (k[dcfRightControlWord(bits, P)] >> level & 1) : (k[w] & 1);
      const uint64_t cwLo = (k[w] & ~uint64_t(1)) | tcw, cwHi = k[w + 1];
      const Block c{child[e].lo ^ (cwLo & tm[e]), child[e].hi ^ (cwHi & tm[e])};
      t[e] = c.lo & 1;
      s[e] = Block{c.lo & ~uint64_t(1), c.hi};
    }
  }
  // Conversions: payload 0 from the seed's hi word, payload p >= 1 from word (p - 1) mod 2 of
  // H_Value2(s xor (0 || (p - 1) / 2)); then the final corrections where t is set.
  for (int e = 0; e < count; ++e) tm[e] = maskOf(t[e]);
  const int convBlocks = P / 2;  // blocks for payloads 1 .. P - 1
  for (int q = 0; q < convBlocks; ++q)
    for (int e = 0; e < count; ++e) tw[static_cast<size_t>(q) * count + e] = Block{s[e].lo, s[e].hi ^ static_cast<uint64_t>(q)};
  if (convBlocks > 0) hashBlocks(HashKey::Value2, tw, vals, static_cast<size_t>(convBlocks) * count, a.impl);
  for (int e = 0; e < count; ++e) acc[e] += s[e].hi;
  // Payloads 1.. read block (p - 1) / 2: shift the value index by -1 (payload 0's word is skipped).
  for (int p = 1; p < P; ++p) {
    const int q = (p - 1) >> 1, h = (p - 1) & 1;
    for (int e = 0; e < count; ++e) acc[static_cast<size_t>(p) * kBatch + e] += h ? vals[static_cast<size_t>(q) * count + e].hi : vals[static_cast<size_t>(q) * count + e].lo;
  }
  const int64_t fw = dcfFinalWord(bits, P, 0);
  for (int p = 0; p < P; ++p)
    for (int i = 0; i < tiles; ++i) {
      const uint64_t* line = tileBase[i] + (fw + p) * tileRows[i];
      for (int j = 0; j < tileRows[i]; ++j) acc[static_cast<size_t>(p) * kBatch + i * kDcfTile + j] += line[j] & tm[i * kDcfTile + j];
    }
  // Rows of y; party 1's share is negated: y0 + y1 = V0 - V1.
  const uint64_t pm = maskOf(a.party);
  for (int e = 0; e < count; ++e) {
    uint64_t* row = y + (first + e) * P;
    for (int p = 0; p < P; ++p) row[p] = (acc[static_cast<size_t>(p) * kBatch + e] ^ pm) - pm;
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
  forEachKeyBatch(n, kBatch, [&](int64_t e, int count, int64_t) {
    thread_local std::vector<uint64_t> valpha;
    keygenBatch(a, P, n, e, count, alpha, beta, k0, k1, valpha);
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
  forEachKeyBatch(n, kBatch, [&](int64_t e, int count, int64_t) { evalBatch(a, P, n, e, count, keys, x, out); });
  return {y};
}

TFE_REGISTER_KERNEL("DcfKeygenMany", 2, dcfKeygenMany);
TFE_REGISTER_KERNEL("DcfEvalMany", 2, dcfEvalMany);

}  // namespace
}  // namespace fss
}  // namespace tfe
