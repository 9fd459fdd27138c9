// DcfEval: one server's share of the comparison (layout and construction in dcf.h).
//
// Inputs key [n, dcfKeyWords(bits)] ring64 (this party's keys), x [n] ring64 (public: in the
// protocol, the masked value both servers open). Attrs: bits (1..64), party (0 or 1), impl
// (optional, as for DcfKeygen). Output y [n] ring64 with y0 + y1 = beta * [x mod 2^bits <
// alpha mod 2^bits] (mod 2^64).
//
// A thread walks a batch of kBatch elements level by level. Each level needs two expansions per
// element: the value block and the child that x's bit selects (hashChildren picks the fixed key
// per block, so the batch stays one pipelined AES pass). x is public, so selecting on its bits
// leaks nothing; the control bit t is secret-shared state and is applied with masks.
#include <algorithm>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "fss/dcf.h"
#include "fss/dcf_args.h"
#include "fss/dcf_bit.h"
#include "fss/dpf.h"
#include "fss/dcf_eval_avx512.h"
#include "fss/fixed_key_aes.h"
#include "kernels/check.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {

DcfEvalArgs parseDcfEval(const std::string& op, int payloads, const Inputs& in, const Attrs& at) {
  const Tensor &key = in[0], &x = in[1];
  DcfEvalArgs a;
  a.bits = parseDcfBits(op, at);
  if (!at.has("party")) throw KernelError(op + ": missing attribute 'party' (0 or 1)");
  int64_t party = at.getInt("party");
  if (party != 0 && party != 1) throw KernelError(op + ": party must be 0 or 1, got " + std::to_string(party));
  a.party = static_cast<uint64_t>(party);
  a.impl = parseAesImpl(at.getString("impl", "auto"));
  requireDType(op, key, DType::Ring64, "key");
  requireDType(op, x, DType::Ring64, "x");
  requireRank(op, key, 2, "key");
  requireRank(op, x, 1, "x");
  const int64_t K = payloads == kDcfBitForm ? dcfBitKeyWords(a.bits) : payloads == kDpfForm ? dpfKeyWords(a.bits) : dcfKeyWords(a.bits, payloads);
  const std::string formula = payloads == kDcfBitForm ? " (2 * max(bits - 7, 0) + 5)"
                              : payloads == kDpfForm  ? " (2 * bits + 3)"
                              : payloads == 1       ? " (3 * bits + 4)"
                              : payloads == 2       ? " (4 * bits + 5)"
                                                    : " ((2 + P) * bits + 3 + P for P = " + std::to_string(payloads) + " payloads)";
  if (key.shape[1] != K)
    throw KernelError(op + ": key has " + std::to_string(key.shape[1]) + " words per element but bits = " +
                      std::to_string(a.bits) + " needs " + std::to_string(K) + formula);
  if (x.shape[0] != key.shape[0])
    throw KernelError(op + ": x " + shapeStr(x.shape) + " and key " + shapeStr(key.shape) + " must have the same number of elements");
  return a;
}

namespace {

constexpr int kBatch = kDcfEvalBatch;
static_assert(kBatch % kDcfTile == 0, "a batch is whole key tiles");

inline uint64_t maskOf(uint64_t bit) { return uint64_t(0) - (bit & 1); }

template <int P>
void evalBatch(const DcfEvalArgs& a, int64_t n, int64_t first, int count, const uint64_t* keys, const uint64_t* xIn, uint64_t* const* y) {
  const int bits = a.bits;
  const int64_t K = dcfKeyWords(bits, P);
  const uint64_t domain = dcfDomainMask(bits);
  // Zero-initialised: only the first `count` entries are used, which the compiler cannot see.
  Block s[kBatch] = {}, V[P][kBatch], child[kBatch];
  uint8_t dir[kBatch];
  uint64_t t[kBatch], acc[P][kBatch], x[kBatch];
  for (int e = 0; e < count; ++e) {
    const KeyRow<const uint64_t> k = keyRow(keys, n, K, first + e);
    s[e] = Block{k[0], k[1]};
    t[e] = a.party;
    for (int p = 0; p < P; ++p) acc[p][e] = 0;
    x[e] = xIn[first + e] & domain;
  }
  for (int level = 0; level < bits; ++level) {
    const int shift = bits - 1 - level;
    const int64_t w = dcfLevelWord(level, P);
    for (int e = 0; e < count; ++e) dir[e] = static_cast<uint8_t>(x[e] >> shift & 1);
    // One payload: H_Value holds both children's value shares; two payloads: the value block of
    // the child x takes (H_Value left, H_Value2 right) holds both payloads' (dcf.h).
    if (P == 1) hashBlocks(HashKey::Value, s, V[0], count, a.impl);
    else hashEither(HashKey::Value, HashKey::Value2, s, dir, V[0], count, a.impl);
    hashChildren(s, dir, child, count, a.impl);
    for (int e = 0; e < count; ++e) {
      const KeyRow<const uint64_t> k = keyRow(keys, n, K, first + e);
      const uint64_t tm = maskOf(t[e]);
      // The correction word for this side: seed CW with that side's control correction in bit 0.
      const uint64_t tcw = dir[e] ? (k[dcfRightControlWord(bits, P)] >> level & 1) : (k[w] & 1);
      const uint64_t cwLo = (k[w] & ~uint64_t(1)) | tcw, cwHi = k[w + 1];
      const Block c{child[e].lo ^ (cwLo & tm), child[e].hi ^ (cwHi & tm)};
      for (int p = 0; p < P; ++p) {
        const uint64_t v = P == 1 ? (dir[e] ? V[0][e].hi : V[0][e].lo) : (p ? V[0][e].hi : V[0][e].lo);
        acc[p][e] += v + (k[w + 2 + p] & tm);
      }
      t[e] = c.lo & 1;
      s[e] = Block{c.lo & ~uint64_t(1), c.hi};
    }
  }
  // Convert_0(seed) = its hi word; Convert_1(seed) = H_Value2(seed).lo (dcf.h).
  if (P > 1) hashBlocks(HashKey::Value2, s, V[P - 1], count, a.impl);
  const uint64_t pm = maskOf(a.party);
  for (int e = 0; e < count; ++e) {
    const KeyRow<const uint64_t> k = keyRow(keys, n, K, first + e);
    for (int p = 0; p < P; ++p) {
      const uint64_t conv = p == 0 ? s[e].hi : V[P - 1][e].lo;
      const uint64_t v = acc[p][e] + conv + (k[dcfFinalWord(bits, P, p)] & maskOf(t[e]));
      y[p][first + e] = (v ^ pm) - pm;  // party 1's share is negated: y0 + y1 = V0 - V1
    }
  }
}

template <int P>
Outputs dcfEvalP(const Inputs& in, const Attrs& at) {
  const DcfEvalArgs a = parseDcfEval(P == 1 ? "DcfEval" : "DcfEval2", P, in, at);
  const int64_t n = in[1].shape[0];
  Outputs outs;
  uint64_t* y[P];
  for (int p = 0; p < P; ++p) {
    outs.push_back(allocTensor({n}, DType::Ring64));
    y[p] = outs.back().ptr<uint64_t>();
  }
  const uint64_t *keys = in[0].ptr<uint64_t>(), *x = in[1].ptr<uint64_t>();
  // Full batches take the AVX-512 walk where the CPU has it (dcf_eval_avx512.cc), the same
  // function; a short last batch, and CPUs without it, the scalar one.
  // impl 'auto' and 'aesni' may take it; 'portable' means no CPU-specific code at all (tests compare the two).
  const bool wide = dcfEvalWideAvailable() && a.impl != AesImpl::Portable, vaes = wide && dcfEvalVaesAvailable(a.impl);
  forEachKeyBatch(n, kBatch, [&](int64_t e, int count, int64_t end) {
    if (vaes && count == kBatch) dcfEvalBatchVaes<P>(a, e, keys, x, y, end);
    else if (wide && count == kBatch) dcfEvalBatchWide<P>(a, e, keys, x, y, end);
    else evalBatch<P>(a, n, e, count, keys, x, y);
  });
  return outs;
}

Outputs dcfEval(const Inputs& in, const Attrs& at) { return dcfEvalP<1>(in, at); }
Outputs dcfEval2(const Inputs& in, const Attrs& at) { return dcfEvalP<2>(in, at); }

TFE_REGISTER_KERNEL("DcfEval", 2, dcfEval);
// Both payloads' shares from one walk of a DcfKeygen2 key: outputs y0, y1 (see dcf.h).
TFE_REGISTER_KERNEL("DcfEval2", 2, dcfEval2);

}  // namespace
}  // namespace fss
}  // namespace tfe
