// DcfKeygen: the dealer's side of the DCF (layout and construction in dcf.h).
//
// Inputs alpha [n] ring64, beta [n] ring64. Attrs: bits (1..64), seed (16 bytes), nonce (bigint,
// required: a nonce reused with the same seed would reuse root seeds), first (optional bigint,
// default 0: the index of alpha[0] in a longer vector whose keys are made in chunks, so that the
// chunks read disjoint parts of the PRG stream and together equal one call on the whole vector),
// impl (optional: auto, aesni or portable, for tests). Outputs key0, key1: [n, dcfKeyWords(bits)].
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
#include "fss/dcf_args.h"
#include "fss/dcf_keygen_avx512.h"
#include "fss/fixed_key_aes.h"
#include "kernels/check.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {

DcfKeygenArgs parseDcfKeygen(const std::string& op, const Inputs& in, const Attrs& at, const char* secondName) {
  const Tensor& alpha = in[0];
  requireDType(op, alpha, DType::Ring64, "alpha");
  requireRank(op, alpha, 1, "alpha");
  for (size_t p = 1; p < in.size(); ++p) {
    const std::string what = secondName ? secondName : in.size() > 2 ? "beta" + std::to_string(p - 1) : "beta";
    requireDType(op, in[p], DType::Ring64, what.c_str());
    if (in[p].shape != alpha.shape)
      throw KernelError(op + ": " + what + " " + shapeStr(in[p].shape) + " must have alpha's shape " + shapeStr(alpha.shape));
  }
  return parseDcfKeygenAttrs(op, static_cast<uint64_t>(alpha.shape[0]), at);
}

DcfKeygenArgs parseDcfKeygenAttrs(const std::string& op, uint64_t n, const Attrs& at) {
  DcfKeygenArgs a;
  a.bits = parseDcfBits(op, at);
  if (!at.has("seed")) throw KernelError(op + ": missing attribute 'seed' (16 bytes)");
  std::vector<uint8_t> seed = at.getBytes("seed");
  if (seed.size() != 16) throw KernelError(op + ": seed must be 16 bytes (128 bits), got " + std::to_string(seed.size()));
  if (!at.has("nonce")) throw KernelError(op + ": missing attribute 'nonce' (a bigint; never reuse one with the same seed)");
  const uint64_t nonce = at.getRing("nonce");
  a.nonce = nonce;
  a.first = at.getRing("first", 0);
  // Element j reads stream blocks 2 (first + j) and 2 (first + j) + 1: they must not wrap.
  if (a.first > (~uint64_t(0) >> 1) - n)
    throw KernelError(op + ": first + n must stay below 2^63 (first = " + std::to_string(a.first) + ", n = " + std::to_string(n) + ")");
  a.impl = parseAesImpl(at.getString("impl", "auto"));
  aesExpandKey(seed.data(), &a.prgKey, a.impl);
  for (int b = 0; b < 8; ++b) a.iv[b] = static_cast<uint8_t>(nonce >> (56 - 8 * b));
  return a;
}

void dcfRootKeys(const DcfKeygenArgs& a, int64_t n, int64_t K, int64_t first, int count, Block* s, uint64_t* key0, uint64_t* key1) {
  aesCtrBlocks(a.prgKey, a.iv, 2 * (a.first + static_cast<uint64_t>(first)), 2 * static_cast<uint64_t>(count),
               reinterpret_cast<uint8_t*>(s), a.impl);
  for (int e = 0; e < count; ++e) {
    const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
    k0[0] = s[2 * e].lo, k0[1] = s[2 * e].hi;
    k1[0] = s[2 * e + 1].lo, k1[1] = s[2 * e + 1].hi;
  }
}

namespace {

constexpr int kBatch = kDcfKeygenBatch;
static_assert(kBatch % kDcfTile == 0, "a batch is whole key tiles");

inline uint64_t maskOf(uint64_t bit) { return uint64_t(0) - (bit & 1); }  // 0 or all ones
inline Block select(uint64_t m, Block a, Block b) { return Block{(a.lo & ~m) | (b.lo & m), (a.hi & ~m) | (b.hi & m)}; }
inline uint64_t select(uint64_t m, uint64_t a, uint64_t b) { return (a & ~m) | (b & m); }
// (-1)^t * v in Z_2^64, branch-free.
inline uint64_t signBy(uint64_t t, uint64_t v) { uint64_t m = maskOf(t); return (v ^ m) - m; }

// Keys for elements [first, first + count), count <= kBatch, with P payloads (betaIn[p]).
template <int P>
void keygenBatch(const DcfKeygenArgs& a, int64_t n, int64_t first, int count, const uint64_t* alphaIn, const uint64_t* const* betaIn,
                 uint64_t* key0, uint64_t* key1) {
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits, P);
  const uint64_t domain = dcfDomainMask(bits);
  // Seeds of both parties interleaved (party 0 at 2e, party 1 at 2e + 1), as the PRG stream
  // lays out the root seeds and as one hash call per level wants them.
  Block s[2 * kBatch], L[2 * kBatch], R[2 * kBatch], V[P][2 * kBatch];
  uint64_t t[2 * kBatch], valpha[P][kBatch], tRight[kBatch];
  const HashKey valueKey[2] = {HashKey::Value, HashKey::Value2};
  // Value share of payload p for block j's left (side 0) or right (side 1) child (dcf.h): one
  // payload, V[0] = H_Value holds both children (lo, hi); two payloads, V[side] = H_Value (left
  // child) or H_Value2 (right child) holds both payloads (lo, hi), so that an evaluation, which
  // follows one child, hashes one value block per level instead of two.
  auto childValue = [&](int p, uint64_t side, int j) -> uint64_t {
    if (P == 1) return side ? V[0][j].hi : V[0][j].lo;
    const Block& b = V[side][j];
    return p ? b.hi : b.lo;
  };
  dcfRootKeys(a, n, K, first, count, s, key0, key1);
  for (int e = 0; e < count; ++e) {
    t[2 * e] = 0, t[2 * e + 1] = 1;
    tRight[e] = 0;
    for (int p = 0; p < P; ++p) valpha[p][e] = 0;
  }
  for (int level = 0; level < bits; ++level) {
    hashBlocks(HashKey::Left, s, L, 2 * count, a.impl);
    hashBlocks(HashKey::Right, s, R, 2 * count, a.impl);
    for (int p = 0; p < P; ++p) hashBlocks(valueKey[p], s, V[p], 2 * count, a.impl);
    const int shift = bits - 1 - level;
    const int64_t w = dcfLevelWord(level, P);
    for (int e = 0; e < count; ++e) {
      const uint64_t abit = (alphaIn[first + e] & domain) >> shift & 1, am = maskOf(abit);
      Block sL[2], sR[2], sKeep[2], sLose[2];
      uint64_t tL[2], tR[2];
      for (int b = 0; b < 2; ++b) {
        const int j = 2 * e + b;
        tL[b] = L[j].lo & 1, tR[b] = R[j].lo & 1;
        sL[b] = Block{L[j].lo & ~uint64_t(1), L[j].hi};
        sR[b] = Block{R[j].lo & ~uint64_t(1), R[j].hi};
        // Keep is the child on alpha's path: left when alpha's bit is 0.
        sKeep[b] = select(am, sL[b], sR[b]);
        sLose[b] = select(am, sR[b], sL[b]);
      }
      const Block sCW{sLose[0].lo ^ sLose[1].lo, sLose[0].hi ^ sLose[1].hi};
      // The corrected control bits must differ on alpha's path and agree off it.
      const uint64_t tCWL = tL[0] ^ tL[1] ^ abit ^ 1, tCWR = tR[0] ^ tR[1] ^ abit;
      const uint64_t t1 = t[2 * e + 1];
      const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
      k0[w] = k1[w] = sCW.lo | tCWL;
      k0[w + 1] = k1[w + 1] = sCW.hi;
      for (int p = 0; p < P; ++p) {
        // Keep is the right child (side 1) when alpha's bit is 1.
        const uint64_t vKeep0 = select(am, childValue(p, 0, 2 * e), childValue(p, 1, 2 * e));
        const uint64_t vKeep1 = select(am, childValue(p, 0, 2 * e + 1), childValue(p, 1, 2 * e + 1));
        const uint64_t vLose0 = select(am, childValue(p, 1, 2 * e), childValue(p, 0, 2 * e));
        const uint64_t vLose1 = select(am, childValue(p, 1, 2 * e + 1), childValue(p, 0, 2 * e + 1));
        // The lost child's value shares must sum to beta when it lies left of alpha (x < alpha
        // leaves the path to the left) and to 0 when right, given what the path has added so far.
        uint64_t vcw = signBy(t1, vLose1 - vLose0 - valpha[p][e]);
        vcw += signBy(t1, betaIn[p][first + e]) & am;  // Lose = Left exactly when alpha's bit is 1
        valpha[p][e] = valpha[p][e] - vKeep1 + vKeep0 + signBy(t1, vcw);
        k0[w + 2 + p] = k1[w + 2 + p] = vcw;
      }
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
  // Convert_0(seed) = hi word (the lo word's bit 0 was cleared for the control bit);
  // Convert_1(seed) = H_Value2(seed).lo.
  if (P > 1) hashBlocks(HashKey::Value2, s, V[P - 1], 2 * count, a.impl);
  for (int e = 0; e < count; ++e) {
    const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
    k0[dcfRightControlWord(bits, P)] = k1[dcfRightControlWord(bits, P)] = tRight[e];
    for (int p = 0; p < P; ++p) {
      const uint64_t c0 = p == 0 ? s[2 * e].hi : V[P - 1][2 * e].lo, c1 = p == 0 ? s[2 * e + 1].hi : V[P - 1][2 * e + 1].lo;
      k0[dcfFinalWord(bits, P, p)] = k1[dcfFinalWord(bits, P, p)] = signBy(t[2 * e + 1], c1 - c0 - valpha[p][e]);
    }
  }
  // Wipe the walk's secrets from the stack (the dealer's alpha path is in them).
  volatile uint64_t* wipe = reinterpret_cast<volatile uint64_t*>(s);
  for (size_t i = 0; i < sizeof(s) / 8; ++i) wipe[i] = 0;
}

template <int P>
Outputs dcfKeygenP(const Inputs& in, const Attrs& at) {
  const DcfKeygenArgs a = parseDcfKeygen(P == 1 ? "DcfKeygen" : "DcfKeygen2", in, at);
  const int64_t n = in[0].shape[0], K = dcfKeyWords(a.bits, P);
  Tensor key0 = allocTensor({n, K}, DType::Ring64), key1 = allocTensor({n, K}, DType::Ring64);
  const uint64_t* alpha = in[0].ptr<uint64_t>();
  const uint64_t* betas[P];
  for (int p = 0; p < P; ++p) betas[p] = in[1 + p].ptr<uint64_t>();
  uint64_t *k0 = key0.ptr<uint64_t>(), *k1 = key1.ptr<uint64_t>();
  // A grain of a few batches: ~6 * 63 * 64 AES blocks, far above the pool's hand-off cost.
  // Full batches take the AVX-512 walk where the CPU has it (dcf_keygen_avx512.cc: the same
  // keys); a short last batch, and CPUs without it, the scalar one.
  // impl 'auto' and 'aesni' may take it; 'portable' means no CPU-specific code at all (tests compare the two).
  const bool wide = dcfKeygenWideAvailable() && a.impl != AesImpl::Portable;
  forEachKeyBatch(n, kBatch, [&](int64_t e, int count, int64_t) {
    if (wide && count == kBatch) dcfKeygenBatchWide<P>(a, e, alpha, betas, k0, k1);
    else keygenBatch<P>(a, n, e, count, alpha, betas, k0, k1);
  });
  return {key0, key1};
}

Outputs dcfKeygen(const Inputs& in, const Attrs& at) { return dcfKeygenP<1>(in, at); }
Outputs dcfKeygen2(const Inputs& in, const Attrs& at) { return dcfKeygenP<2>(in, at); }

TFE_REGISTER_KERNEL("DcfKeygen", 2, dcfKeygen);
// Two payloads from one tree: inputs alpha, beta0, beta1 (see dcf.h).
TFE_REGISTER_KERNEL("DcfKeygen2", 3, dcfKeygen2);

}  // namespace
}  // namespace fss
}  // namespace tfe
