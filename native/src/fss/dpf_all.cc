// DpfEvalAll: DPF keys (dpf.h) evaluated at every point of their domain, for one-hot rows of a
// private index (lib/protocol/shared_one_hot.ts under FSS): server2 deals one key per row instead
// of the row itself (2 bits + 3 words instead of 2^bits), and each compute server expands it.
// The tree is expanded level by level: two hashes per inner node, about 2^(bits+1) per key, where
// evaluating each point on its own (DpfEval) takes bits 2^bits.
//
// Inputs key [n, dpfKeyWords(bits)] ring64; attrs bits (1..kDpfAllMaxBits), party, impl (as
// DpfEval's). Output y [n, 2^bits] ring64 with y[e, x] = DpfEval(key e, x, party): so
// y0 + y1 = beta [x = alpha] on the domain.
#include <string>
#include <vector>

#include "core/registry.h"
#include "fss/dcf.h"
#include "fss/dcf_args.h"
#include "fss/dpf.h"
#include "fss/fixed_key_aes.h"
#include "kernels/check.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {

DcfEvalArgs parseDpfEvalAll(const Inputs& in, const Attrs& at) {
  const std::string op = "DpfEvalAll";
  const Tensor& key = in[0];
  DcfEvalArgs a;
  a.bits = parseDcfBits(op, at);
  if (a.bits > kDpfAllMaxBits) throw KernelError(op + ": bits must be at most " + std::to_string(kDpfAllMaxBits) + " (2^bits values per row), got " + std::to_string(a.bits));
  if (!at.has("party")) throw KernelError(op + ": missing attribute 'party' (0 or 1)");
  const int64_t party = at.getInt("party");
  if (party != 0 && party != 1) throw KernelError(op + ": party must be 0 or 1, got " + std::to_string(party));
  a.party = static_cast<uint64_t>(party);
  a.impl = parseAesImpl(at.getString("impl", "auto"));
  requireDType(op, key, DType::Ring64, "key");
  requireRank(op, key, 2, "key");
  const int64_t K = dpfKeyWords(a.bits);
  if (key.shape[1] != K)
    throw KernelError(op + ": key has " + std::to_string(key.shape[1]) + " words per element but bits = " + std::to_string(a.bits) + " needs " +
                      std::to_string(K) + " (2 * bits + 3)");
  return a;
}

namespace {

// One key's leaves into y[0, 2^bits): the nodes of a level are the prefixes of x, in order.
void expandOne(const uint64_t* key, int64_t stride, int bits, uint64_t party, AesImpl impl, uint64_t* y, std::vector<Block>& s,
               std::vector<Block>& next, std::vector<uint8_t>& t, std::vector<uint8_t>& nextT, std::vector<Block>& L, std::vector<Block>& R) {
  DpfWalker root;
  dpfEvalRoot(root, key, stride, party);
  s[0] = Block{root.sLo, root.sHi}, t[0] = static_cast<uint8_t>(root.t);
  for (int level = 0; level < bits; ++level) {
    const size_t count = size_t(1) << level;
    hashBlocks(HashKey::Left, s.data(), L.data(), count, impl);
    hashBlocks(HashKey::Right, s.data(), R.data(), count, impl);
    for (size_t i = 0; i < count; ++i)
      for (uint64_t dir = 0; dir < 2; ++dir) {
        DpfWalker w{s[i].lo, s[i].hi, t[i]};
        const Block& child = dir ? R[i] : L[i];
        dpfEvalLevel(w, key, stride, level, dir, child.lo, child.hi);
        next[2 * i + dir] = Block{w.sLo, w.sHi}, nextT[2 * i + dir] = static_cast<uint8_t>(w.t);
      }
    s.swap(next), t.swap(nextT);
  }
  const size_t leaves = size_t(1) << bits;
  for (size_t x = 0; x < leaves; ++x) {
    const DpfWalker w{s[x].lo, s[x].hi, t[x]};
    y[x] = dpfEvalOutput(w, key, stride, bits, party);
  }
}

Outputs dpfEvalAll(const Inputs& in, const Attrs& at) {
  const DcfEvalArgs a = parseDpfEvalAll(in, at);
  const Tensor& key = in[0];
  const int bits = a.bits;
  const uint64_t party = a.party;
  const AesImpl impl = a.impl;
  const int64_t K = dpfKeyWords(bits), n = key.shape[0], W = int64_t(1) << bits;
  Tensor y = allocTensor({n, W}, DType::Ring64);
  const uint64_t* keys = key.ptr<uint64_t>();
  uint64_t* out = y.ptr<uint64_t>();
  forEachKeyBatch(n, kDcfTile, [&](int64_t e0, int count, int64_t) {
    std::vector<Block> s(W), next(W), L(W / 2 + 1), R(W / 2 + 1);
    std::vector<uint8_t> t(W), nextT(W);
    for (int64_t e = e0; e < e0 + count; ++e)
      expandOne(keys + dcfKeyOffset(K, e), dcfTileRows(n, e), bits, party, impl, out + e * W, s, next, t, nextT, L, R);
  });
  return {y};
}

TFE_REGISTER_KERNEL("DpfEvalAll", 1, dpfEvalAll);

}  // namespace
}  // namespace fss
}  // namespace tfe
