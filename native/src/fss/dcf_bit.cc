// DcfBitKeygen and DcfBitEval: the one-bit DCF of dcf_bit.h on the CPU.
//
// DcfBitKeygen: inputs alpha [n] ring64, offset [n] ring64 (each 0 or 1: the bit w XORed into the
// output); attrs bits, seed, nonce, first, impl as DcfKeygen's (dcf_keygen.cc). Outputs key0,
// key1 [n, dcfBitKeyWords(bits)].
// DcfBitEval: inputs key [n, dcfBitKeyWords(bits)] ring64, x [n] ring64 (public); attrs bits, party,
// impl. Output y [n] bit, with y0 xor y1 = [x mod 2^bits < alpha mod 2^bits] xor w.
//
// As in the 64-bit DCF, a thread walks a batch of kBatch elements level by level so that a
// level's hashes go to the pipelined AES together (keygen: 4 * kBatch blocks, two children of
// both parties' seeds; evaluation: kBatch, the child x's bit selects), then hashes the leaf
// blocks; the per-element steps between are dcf_bit.h's.
#include <algorithm>
#include <cstring>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "fss/dcf.h"
#include "fss/dcf_args.h"
#include "fss/dcf_bit.h"
#include "fss/dcf_bit_avx512.h"
#include "fss/fixed_key_aes.h"
#include "kernels/check.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {
namespace {

constexpr int kBatch = kDcfBitBatch;
static_assert(kBatch % kDcfTile == 0, "a batch is whole key tiles");

void keygenBatch(const DcfKeygenArgs& a, int64_t n, int64_t first, int count, const uint64_t* alphaIn, const uint64_t* offsetIn,
                 uint64_t* key0, uint64_t* key1) {
  const int bits = a.bits;
  const int64_t K = dcfBitKeyWords(bits);
  const uint64_t domain = dcfDomainMask(bits);
  // Seeds of both parties interleaved (party 0 at 2e, party 1 at 2e + 1), as the PRG stream lays
  // out the root blocks and as one hash call per level wants them.
  Block s[2 * kBatch], L[2 * kBatch], R[2 * kBatch];
  DcfBitDealer st[kBatch];
  uint64_t vcws[kBatch];
  aesCtrBlocks(a.prgKey, a.iv, 2 * (a.first + static_cast<uint64_t>(first)), 2 * static_cast<uint64_t>(count),
               reinterpret_cast<uint8_t*>(s), a.impl);
  for (int e = 0; e < count; ++e) {
    const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
    dcfBitKeygenRoot(st[e], s[2 * e].lo, s[2 * e].hi, s[2 * e + 1].lo, s[2 * e + 1].hi, offsetIn[first + e], k0.p, k1.p, k0.stride);
    s[2 * e] = Block{st[e].sLo[0], st[e].sHi[0]};
    s[2 * e + 1] = Block{st[e].sLo[1], st[e].sHi[1]};
    vcws[e] = 0;
  }
  const int levels = static_cast<int>(dcfBitLevels(bits));
  for (int level = 0; level < levels; ++level) {
    hashBlocks(HashKey::Left, s, L, 2 * count, a.impl);
    hashBlocks(HashKey::Right, s, R, 2 * count, a.impl);
    const int shift = bits - 1 - level;
    const int64_t w = dcfBitLevelWord(level);
    for (int e = 0; e < count; ++e) {
      const uint64_t Llo[2] = {L[2 * e].lo, L[2 * e + 1].lo}, Lhi[2] = {L[2 * e].hi, L[2 * e + 1].hi};
      const uint64_t Rlo[2] = {R[2 * e].lo, R[2 * e + 1].lo}, Rhi[2] = {R[2 * e].hi, R[2 * e + 1].hi};
      uint64_t cwLo, cwHi, vcw;
      dcfBitKeygenLevel(st[e], Llo, Lhi, Rlo, Rhi, (alphaIn[first + e] & domain) >> shift & 1, cwLo, cwHi, vcw);
      const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
      k0[w] = k1[w] = cwLo;
      k0[w + 1] = k1[w + 1] = cwHi;
      vcws[e] |= vcw << level;
      s[2 * e] = Block{st[e].sLo[0], st[e].sHi[0]};
      s[2 * e + 1] = Block{st[e].sLo[1], st[e].sHi[1]};
    }
  }
  // The leaf blocks of both parties' final seeds (L is free again).
  hashBlocks(HashKey::Value, s, L, 2 * count, a.impl);
  const uint64_t leafMask = dcfBitLeafMask(bits);
  for (int e = 0; e < count; ++e) {
    const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
    k0[dcfBitValueWord(bits)] = k1[dcfBitValueWord(bits)] = vcws[e];
    uint64_t cwLo, cwHi;
    dcfBitKeygenLeaf(st[e], L[2 * e].lo, L[2 * e].hi, L[2 * e + 1].lo, L[2 * e + 1].hi, alphaIn[first + e] & leafMask, cwLo, cwHi);
    const int64_t lw = dcfBitLeafWord(bits);
    k0[lw] = k1[lw] = cwLo;
    k0[lw + 1] = k1[lw + 1] = cwHi;
  }
  // Wipe the walk's secrets from the stack (the dealer's alpha path is in them).
  volatile uint64_t* ws = reinterpret_cast<volatile uint64_t*>(s);
  for (size_t i = 0; i < sizeof(s) / 8; ++i) ws[i] = 0;
  volatile uint64_t* wst = reinterpret_cast<volatile uint64_t*>(st);
  for (size_t i = 0; i < sizeof(st) / 8; ++i) wst[i] = 0;
}

void evalBatch(const DcfEvalArgs& a, int64_t n, int64_t first, int count, const uint64_t* keys, const uint64_t* xIn, uint8_t* y) {
  const int bits = a.bits;
  const int64_t K = dcfBitKeyWords(bits);
  const uint64_t domain = dcfDomainMask(bits);
  Block s[kBatch] = {}, child[kBatch];
  uint8_t dir[kBatch];
  DcfBitWalker st[kBatch];
  uint64_t x[kBatch];
  for (int e = 0; e < count; ++e) {
    dcfBitEvalRoot(st[e], keys + dcfKeyOffset(K, first + e), dcfTileRows(n, first + e), a.party);
    s[e] = Block{st[e].sLo, st[e].sHi};
    x[e] = xIn[first + e] & domain;
  }
  const int levels = static_cast<int>(dcfBitLevels(bits));
  for (int level = 0; level < levels; ++level) {
    const int shift = bits - 1 - level;
    for (int e = 0; e < count; ++e) dir[e] = static_cast<uint8_t>(x[e] >> shift & 1);
    hashChildren(s, dir, child, count, a.impl);
    for (int e = 0; e < count; ++e) {
      dcfBitEvalLevel(st[e], keys + dcfKeyOffset(K, first + e), dcfTileRows(n, first + e), bits, level, dir[e], child[e].lo, child[e].hi);
      s[e] = Block{st[e].sLo, st[e].sHi};
    }
  }
  hashBlocks(HashKey::Value, s, child, count, a.impl);
  const uint64_t leafMask = dcfBitLeafMask(bits);
  for (int e = 0; e < count; ++e)
    y[first + e] = static_cast<uint8_t>(dcfBitEvalLeaf(st[e], keys + dcfKeyOffset(K, first + e), dcfTileRows(n, first + e), bits, child[e].lo,
                                                       child[e].hi, x[e] & leafMask));
}

Outputs dcfBitKeygen(const Inputs& in, const Attrs& at) {
  const DcfKeygenArgs a = parseDcfKeygen("DcfBitKeygen", in, at, "offset");
  const int64_t n = in[0].shape[0], K = dcfBitKeyWords(a.bits);
  const uint64_t *alpha = in[0].ptr<uint64_t>(), *offset = in[1].ptr<uint64_t>();
  for (int64_t i = 0; i < n; ++i)
    if (offset[i] > 1) throw KernelError("DcfBitKeygen: offset must be 0 or 1 in every element, got " + std::to_string(offset[i]) + " at " + std::to_string(i));
  Tensor key0 = allocTensor({n, K}, DType::Ring64), key1 = allocTensor({n, K}, DType::Ring64);
  uint64_t *k0 = key0.ptr<uint64_t>(), *k1 = key1.ptr<uint64_t>();
  // Full batches take the AVX-512 walk where the CPU has it (dcf_bit_avx512.cc: the same keys);
  // a short last batch, CPUs without it and impl 'portable' (tests compare the two), the scalar one.
  const bool wide = dcfBitWideAvailable() && a.impl != AesImpl::Portable;
  forEachKeyBatch(n, kBatch, [&](int64_t e, int count, int64_t) {
    if (wide && count == kBatch) dcfBitKeygenBatchWide(a, e, alpha, offset, k0, k1);
    else keygenBatch(a, n, e, count, alpha, offset, k0, k1);
  });
  return {key0, key1};
}

Outputs dcfBitEval(const Inputs& in, const Attrs& at) {
  const DcfEvalArgs a = parseDcfEval("DcfBitEval", kDcfBitForm, in, at);
  const int64_t n = in[1].shape[0];
  Tensor y = allocTensor({n}, DType::Bit);
  const uint64_t *keys = in[0].ptr<uint64_t>(), *x = in[1].ptr<uint64_t>();
  uint8_t* out = y.ptr<uint8_t>();
  const bool wide = dcfBitWideAvailable() && a.impl != AesImpl::Portable, vaes = wide && dcfBitEvalVaesAvailable(a.impl);
  forEachKeyBatch(n, kBatch, [&](int64_t e, int count, int64_t end) {
    if (vaes && count == kBatch) dcfBitEvalBatchVaes(a, e, keys, x, out, end);
    else if (wide && count == kBatch) dcfBitEvalBatchWide(a, e, keys, x, out, end);
    else evalBatch(a, n, e, count, keys, x, out);
  });
  return {y};
}

TFE_REGISTER_KERNEL("DcfBitKeygen", 2, dcfBitKeygen);
TFE_REGISTER_KERNEL("DcfBitEval", 2, dcfBitEval);

}  // namespace
}  // namespace fss
}  // namespace tfe
