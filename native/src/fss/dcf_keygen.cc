// DcfKeygen: the dealer's side of the DCF (layout and construction in dcf.h).
//
// Inputs alpha [n] ring64, beta [n] ring64. Attrs: bits (1..64), seed (16 bytes), nonce (bigint,
// required: a nonce reused with the same seed would reuse root seeds), impl (optional: auto,
// aesni or portable, for tests). Outputs key0, key1: [n, dcfKeyWords(bits)] ring64.
//
// Elements are independent; a thread takes a range of them and walks the tree for a batch of
// kBatch elements level by level, so that each level's 6 * kBatch AES calls (3 expansions of
// both parties' seeds) go to the AES-NI loop together instead of one dependent call at a time.
// The walk selects with masks rather than branching on alpha's bits: the dealer's timing should
// not depend on the secret it is sharing.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "fss/dcf.h"
#include "fss/fixed_key_aes.h"
#include "kernels/check.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {
namespace {

constexpr int kBatch = 32;

inline uint64_t maskOf(uint64_t bit) { return uint64_t(0) - (bit & 1); }  // 0 or all ones
inline Block select(uint64_t m, Block a, Block b) { return Block{(a.lo & ~m) | (b.lo & m), (a.hi & ~m) | (b.hi & m)}; }
inline uint64_t select(uint64_t m, uint64_t a, uint64_t b) { return (a & ~m) | (b & m); }
// (-1)^t * v in Z_2^64, branch-free.
inline uint64_t signBy(uint64_t t, uint64_t v) { uint64_t m = maskOf(t); return (v ^ m) - m; }

struct KeygenArgs {
  int bits;
  AesKey prgKey;
  uint8_t iv[16] = {};
  AesImpl impl;
};

KeygenArgs parseKeygen(const Inputs& in, const Attrs& at) {
  const std::string op = "DcfKeygen";
  const Tensor &alpha = in[0], &beta = in[1];
  requireDType(op, alpha, DType::Ring64, "alpha");
  requireDType(op, beta, DType::Ring64, "beta");
  requireRank(op, alpha, 1, "alpha");
  if (beta.shape != alpha.shape)
    throw KernelError(op + ": beta " + shapeStr(beta.shape) + " must have alpha's shape " + shapeStr(alpha.shape));
  KeygenArgs a;
  a.bits = parseDcfBits(op, at);
  if (!at.has("seed")) throw KernelError(op + ": missing attribute 'seed' (16 bytes)");
  std::vector<uint8_t> seed = at.getBytes("seed");
  if (seed.size() != 16) throw KernelError(op + ": seed must be 16 bytes (128 bits), got " + std::to_string(seed.size()));
  if (!at.has("nonce")) throw KernelError(op + ": missing attribute 'nonce' (a bigint; never reuse one with the same seed)");
  uint64_t nonce = at.getRing("nonce");
  a.impl = parseAesImpl(at.getString("impl", "auto"));
  aesExpandKey(seed.data(), &a.prgKey, a.impl);
  for (int b = 0; b < 8; ++b) a.iv[b] = static_cast<uint8_t>(nonce >> (56 - 8 * b));
  return a;
}

// Keys for elements [first, first + count), count <= kBatch.
void keygenBatch(const KeygenArgs& a, int64_t first, int count, const uint64_t* alphaIn, const uint64_t* betaIn,
                 uint64_t* key0, uint64_t* key1) {
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits);
  const uint64_t domain = dcfDomainMask(bits);
  // Seeds of both parties interleaved (party 0 at 2e, party 1 at 2e + 1), as the PRG stream
  // lays out the root seeds and as one hash call per level wants them.
  Block s[2 * kBatch], L[2 * kBatch], R[2 * kBatch], V[2 * kBatch];
  uint64_t t[2 * kBatch], valpha[kBatch], tRight[kBatch];
  aesCtrBlocks(a.prgKey, a.iv, 2 * static_cast<uint64_t>(first), 2 * static_cast<uint64_t>(count),
               reinterpret_cast<uint8_t*>(s), a.impl);
  for (int e = 0; e < count; ++e) {
    uint64_t *k0 = key0 + (first + e) * K, *k1 = key1 + (first + e) * K;
    k0[0] = s[2 * e].lo, k0[1] = s[2 * e].hi;
    k1[0] = s[2 * e + 1].lo, k1[1] = s[2 * e + 1].hi;
    t[2 * e] = 0, t[2 * e + 1] = 1;
    valpha[e] = 0, tRight[e] = 0;
  }
  for (int level = 0; level < bits; ++level) {
    hashBlocks(HashKey::Left, s, L, 2 * count, a.impl);
    hashBlocks(HashKey::Right, s, R, 2 * count, a.impl);
    hashBlocks(HashKey::Value, s, V, 2 * count, a.impl);
    const int shift = bits - 1 - level;
    const int64_t w = dcfLevelWord(level);
    for (int e = 0; e < count; ++e) {
      const uint64_t abit = (alphaIn[first + e] & domain) >> shift & 1, am = maskOf(abit);
      const uint64_t beta = betaIn[first + e];
      Block sL[2], sR[2], sKeep[2], sLose[2];
      uint64_t tL[2], tR[2], vKeep[2], vLose[2];
      for (int b = 0; b < 2; ++b) {
        const int j = 2 * e + b;
        tL[b] = L[j].lo & 1, tR[b] = R[j].lo & 1;
        sL[b] = Block{L[j].lo & ~uint64_t(1), L[j].hi};
        sR[b] = Block{R[j].lo & ~uint64_t(1), R[j].hi};
        // Keep is the child on alpha's path: left when alpha's bit is 0.
        sKeep[b] = select(am, sL[b], sR[b]);
        sLose[b] = select(am, sR[b], sL[b]);
        vKeep[b] = select(am, V[j].lo, V[j].hi);
        vLose[b] = select(am, V[j].hi, V[j].lo);
      }
      const Block sCW{sLose[0].lo ^ sLose[1].lo, sLose[0].hi ^ sLose[1].hi};
      // The corrected control bits must differ on alpha's path and agree off it.
      const uint64_t tCWL = tL[0] ^ tL[1] ^ abit ^ 1, tCWR = tR[0] ^ tR[1] ^ abit;
      const uint64_t t1 = t[2 * e + 1];
      // The lost child's value shares must sum to beta when it lies left of alpha (x < alpha
      // leaves the path to the left) and to 0 when right, given what the path has added so far.
      uint64_t vcw = signBy(t1, vLose[1] - vLose[0] - valpha[e]);
      vcw += signBy(t1, beta) & am;  // Lose = Left exactly when alpha's bit is 1
      valpha[e] = valpha[e] - vKeep[1] + vKeep[0] + signBy(t1, vcw);
      uint64_t *k0 = key0 + (first + e) * K, *k1 = key1 + (first + e) * K;
      k0[w] = k1[w] = sCW.lo | tCWL;
      k0[w + 1] = k1[w + 1] = sCW.hi;
      k0[w + 2] = k1[w + 2] = vcw;
      tRight[e] |= tCWR << level;
      const uint64_t tCWKeep = select(am, tCWL, tCWR);
      for (int b = 0; b < 2; ++b) {
        const int j = 2 * e + b;
        const uint64_t tm = maskOf(t[j]);
        s[j] = Block{sKeep[b].lo ^ (sCW.lo & tm), sKeep[b].hi ^ (sCW.hi & tm)};
        const uint64_t tKeep = select(am, tL[b], tR[b]);
        t[j] = tKeep ^ (t[j] & tCWKeep);
      }
    }
  }
  for (int e = 0; e < count; ++e) {
    uint64_t *k0 = key0 + (first + e) * K, *k1 = key1 + (first + e) * K;
    // Convert(seed) = hi word: the lo word's bit 0 was cleared for the control bit.
    const uint64_t fin = signBy(t[2 * e + 1], s[2 * e + 1].hi - s[2 * e].hi - valpha[e]);
    k0[dcfRightControlWord(bits)] = k1[dcfRightControlWord(bits)] = tRight[e];
    k0[dcfFinalWord(bits)] = k1[dcfFinalWord(bits)] = fin;
  }
  // Wipe the walk's secrets from the stack (the dealer's alpha path is in them).
  volatile uint64_t* wipe = reinterpret_cast<volatile uint64_t*>(s);
  for (size_t i = 0; i < sizeof(s) / 8; ++i) wipe[i] = 0;
}

Outputs dcfKeygen(const Inputs& in, const Attrs& at) {
  const KeygenArgs a = parseKeygen(in, at);
  const int64_t n = in[0].shape[0], K = dcfKeyWords(a.bits);
  Tensor key0 = allocTensor({n, K}, DType::Ring64), key1 = allocTensor({n, K}, DType::Ring64);
  const uint64_t *alpha = in[0].ptr<uint64_t>(), *beta = in[1].ptr<uint64_t>();
  uint64_t *k0 = key0.ptr<uint64_t>(), *k1 = key1.ptr<uint64_t>();
  // A grain of a few batches: ~6 * 63 * 64 AES blocks, far above the pool's hand-off cost.
  parallelFor(0, n, 2 * kBatch, [&](int64_t lo, int64_t hi) {
    for (int64_t e = lo; e < hi; e += kBatch)
      keygenBatch(a, e, static_cast<int>(std::min<int64_t>(kBatch, hi - e)), alpha, beta, k0, k1);
  });
  return {key0, key1};
}

TFE_REGISTER_KERNEL("DcfKeygen", 2, dcfKeygen);

}  // namespace
}  // namespace fss
}  // namespace tfe
