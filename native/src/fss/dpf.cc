// DpfKeygen and DpfEval: the DPF of dpf.h on the CPU.
//
// DpfKeygen: inputs alpha [n] ring64, beta [n] ring64; attrs bits, seed, nonce, first, impl as
// DcfKeygen's (dcf_keygen.cc). Outputs key0, key1 [n, dpfKeyWords(bits)].
// DpfEval: inputs key [n, dpfKeyWords(bits)] ring64, x [n] ring64 (public); attrs bits, party,
// impl. Output y [n] ring64, with y0 + y1 = beta [x mod 2^bits = alpha mod 2^bits].
//
// As the DCF kernels, a thread walks a batch of kBatch elements level by level so that a level's
// hashes go to the pipelined AES (VAES where the CPU has it) together: keygen 4 * kBatch blocks
// (two children of both parties' seeds), evaluation kBatch (the child x's bit selects); where the
// CPU has AVX-512 and VAES, a full batch's evaluation keeps its AES in registers and its keygen
// runs a level's logic eight lanes wide (dpf_avx512.cc).
#include <algorithm>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "fss/dcf.h"
#include "fss/dcf_args.h"
#include "fss/dpf.h"
#include "fss/dpf_avx512.h"
#include "fss/fixed_key_aes.h"
#include "kernels/check.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {
namespace {

constexpr int kBatch = kDpfBatch;
static_assert(kBatch % kDcfTile == 0, "a batch is whole key tiles");

void keygenBatch(const DcfKeygenArgs& a, int64_t n, int64_t first, int count, const uint64_t* alphaIn, const uint64_t* betaIn,
                 uint64_t* key0, uint64_t* key1) {
  const int bits = a.bits;
  const int64_t K = dpfKeyWords(bits);
  const uint64_t domain = dcfDomainMask(bits);
  // Seeds of both parties interleaved (party 0 at 2e, party 1 at 2e + 1), as the PRG stream lays
  // out the root blocks and as one hash call per level wants them.
  Block s[2 * kBatch], L[2 * kBatch], R[2 * kBatch];
  DpfDealer st[kBatch];
  aesCtrBlocks(a.prgKey, a.iv, 2 * (a.first + static_cast<uint64_t>(first)), 2 * static_cast<uint64_t>(count),
               reinterpret_cast<uint8_t*>(s), a.impl);
  for (int e = 0; e < count; ++e) {
    const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
    dpfKeygenRoot(st[e], s[2 * e].lo, s[2 * e].hi, s[2 * e + 1].lo, s[2 * e + 1].hi, k0.p, k1.p, k0.stride);
    s[2 * e] = Block{st[e].sLo[0], st[e].sHi[0]};
    s[2 * e + 1] = Block{st[e].sLo[1], st[e].sHi[1]};
  }
  for (int level = 0; level < bits; ++level) {
    hashBlocks(HashKey::Left, s, L, 2 * count, a.impl);
    hashBlocks(HashKey::Right, s, R, 2 * count, a.impl);
    const int shift = bits - 1 - level;
    const int64_t w = dpfLevelWord(level);
    for (int e = 0; e < count; ++e) {
      const uint64_t Llo[2] = {L[2 * e].lo, L[2 * e + 1].lo}, Lhi[2] = {L[2 * e].hi, L[2 * e + 1].hi};
      const uint64_t Rlo[2] = {R[2 * e].lo, R[2 * e + 1].lo}, Rhi[2] = {R[2 * e].hi, R[2 * e + 1].hi};
      uint64_t cwLo, cwHi;
      dpfKeygenLevel(st[e], Llo, Lhi, Rlo, Rhi, (alphaIn[first + e] & domain) >> shift & 1, cwLo, cwHi);
      const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
      k0[w] = k1[w] = cwLo;
      k0[w + 1] = k1[w + 1] = cwHi;
      s[2 * e] = Block{st[e].sLo[0], st[e].sHi[0]};
      s[2 * e + 1] = Block{st[e].sLo[1], st[e].sHi[1]};
    }
  }
  for (int e = 0; e < count; ++e) {
    const KeyRow<uint64_t> k0 = keyRow(key0, n, K, first + e), k1 = keyRow(key1, n, K, first + e);
    k0[dpfFinalWord(bits)] = k1[dpfFinalWord(bits)] = dpfKeygenFinal(st[e], betaIn[first + e]);
  }
  // Wipe the walk's secrets from the stack (the dealer's alpha path is in them).
  for (Block* buf : {s, L, R}) {
    volatile uint64_t* ws = reinterpret_cast<volatile uint64_t*>(buf);
    for (size_t i = 0; i < 2 * 2 * kBatch; ++i) ws[i] = 0;
  }
  volatile uint64_t* wst = reinterpret_cast<volatile uint64_t*>(st);
  for (size_t i = 0; i < sizeof(st) / 8; ++i) wst[i] = 0;
}

void evalBatch(const DcfEvalArgs& a, int64_t n, int64_t first, int count, const uint64_t* keys, const uint64_t* xIn, uint64_t* y) {
  const int bits = a.bits;
  const int64_t K = dpfKeyWords(bits);
  const uint64_t domain = dcfDomainMask(bits);
  // Zero-initialised: only the first `count` entries are used, which the compiler cannot see.
  Block s[kBatch] = {}, child[kBatch];
  uint8_t dir[kBatch];
  DpfWalker st[kBatch];
  uint64_t x[kBatch];
  const uint64_t* key[kBatch];
  int64_t stride[kBatch];
  for (int e = 0; e < count; ++e) {
    key[e] = keys + dcfKeyOffset(K, first + e), stride[e] = dcfTileRows(n, first + e);
    dpfEvalRoot(st[e], key[e], stride[e], a.party);
    s[e] = Block{st[e].sLo, st[e].sHi};
    x[e] = xIn[first + e] & domain;
  }
  for (int level = 0; level < bits; ++level) {
    const int shift = bits - 1 - level;
    for (int e = 0; e < count; ++e) dir[e] = static_cast<uint8_t>(x[e] >> shift & 1);
    hashChildren(s, dir, child, count, a.impl);
    for (int e = 0; e < count; ++e) {
      dpfEvalLevel(st[e], key[e], stride[e], level, dir[e], child[e].lo, child[e].hi);
      s[e] = Block{st[e].sLo, st[e].sHi};
    }
  }
  for (int e = 0; e < count; ++e) y[first + e] = dpfEvalOutput(st[e], key[e], stride[e], bits, a.party);
}

Outputs dpfKeygen(const Inputs& in, const Attrs& at) {
  const DcfKeygenArgs a = parseDcfKeygen("DpfKeygen", in, at);
  const int64_t n = in[0].shape[0], K = dpfKeyWords(a.bits);
  const uint64_t *alpha = in[0].ptr<uint64_t>(), *beta = in[1].ptr<uint64_t>();
  Tensor key0 = allocTensor({n, K}, DType::Ring64), key1 = allocTensor({n, K}, DType::Ring64);
  uint64_t *k0 = key0.ptr<uint64_t>(), *k1 = key1.ptr<uint64_t>();
  // Full batches take the AVX-512 walk where the CPU has it (dpf_avx512.cc: the same keys); a
  // short last batch, other CPUs and impl 'portable' (tests compare them), the scalar one.
  const bool wide = dpfKeygenWideAvailable(a.impl);
  forEachKeyBatch(n, kBatch, [&](int64_t e, int count, int64_t) {
    if (wide && count == kBatch) dpfKeygenBatchWide(a, e, alpha, beta, k0, k1);
    else keygenBatch(a, n, e, count, alpha, beta, k0, k1);
  });
  return {key0, key1};
}

Outputs dpfEval(const Inputs& in, const Attrs& at) {
  const DcfEvalArgs a = parseDcfEval("DpfEval", kDpfForm, in, at);
  const int64_t n = in[1].shape[0];
  Tensor y = allocTensor({n}, DType::Ring64);
  const uint64_t *keys = in[0].ptr<uint64_t>(), *x = in[1].ptr<uint64_t>();
  uint64_t* out = y.ptr<uint64_t>();
  // Full batches take the VAES walk where the CPU has it (dpf_avx512.cc: the same function); a
  // short last batch, other CPUs and impl 'portable' (tests compare them), the scalar one.
  const bool vaes = dpfEvalVaesAvailable(a.impl);
  forEachKeyBatch(n, kBatch, [&](int64_t e, int count, int64_t end) {
    if (vaes && count == kBatch) dpfEvalBatchVaes(a, e, keys, x, out, end);
    else evalBatch(a, n, e, count, keys, x, out);
  });
  return {y};
}

TFE_REGISTER_KERNEL("DpfKeygen", 2, dpfKeygen);
TFE_REGISTER_KERNEL("DpfEval", 2, dpfEval);

}  // namespace
}  // namespace fss
}  // namespace tfe
