// The inputs and attributes of the DCF kernels, parsed and checked once for the CPU kernels
// (dcf_keygen.cc, dcf_eval.cc, which define these) and the CUDA ones (native/cuda/fss_dcf.cu), so
// that both backends refuse the same inputs with the same messages, in the same order.
#pragma once
#include <cstdint>
#include <string>

#include "core/attrs.h"
#include "core/registry.h"
#include "fss/fixed_key_aes.h"
#include "prg/aes128.h"

namespace tfe {
namespace fss {

struct DcfKeygenArgs {
  int bits = 0;
  AesKey prgKey;           // the PRG key expanded from the 16-byte `seed`
  uint64_t nonce = 0;
  uint8_t iv[16] = {};     // nonce (8 bytes, big-endian) || block index 0
  uint64_t first = 0;      // stream position of element 0 (in elements)
  AesImpl impl = AesImpl::Auto;
};

// DcfKeygen (inputs alpha, beta), DcfKeygen2 (alpha, beta0, beta1) and DcfBitKeygen (alpha,
// offset: pass secondName "offset"): dtypes and shapes, bits, seed, nonce, first (first + n below
// 2^63), impl.
DcfKeygenArgs parseDcfKeygen(const std::string& op, const Inputs& in, const Attrs& at, const char* secondName = nullptr);
// The attributes alone, for n elements (parseDcfKeygen's second half; DcfKeygenMany checks its
// [n, P] payloads itself).
DcfKeygenArgs parseDcfKeygenAttrs(const std::string& op, uint64_t n, const Attrs& at);
// DcfKeygenMany (inputs alpha [n], beta [n, P], 1 <= P <= kDcfMaxPayloads): as parseDcfKeygen.
DcfKeygenArgs parseDcfKeygenMany(const std::string& op, const Inputs& in, const Attrs& at);

// Both parties' root seeds of elements [first, first + count) from the PRG stream (dcf.h
// "Randomness"): party 0's at s[2e], party 1's at s[2e + 1], each also written to words 0 and 1
// of the element's key (K words per element, n elements, tiled: dcf.h "Tiles").
void dcfRootKeys(const DcfKeygenArgs& a, int64_t n, int64_t K, int64_t first, int count, Block* s, uint64_t* key0, uint64_t* key1);

struct DcfEvalArgs {
  int bits = 0;
  uint64_t party = 0;
  AesImpl impl = AesImpl::Auto;
};

// The `payloads` of the one-bit DCF (dcf_bit.h) for parseDcfEval: its keys are dcfBitKeyWords(bits) words.
constexpr int kDcfBitForm = 0;
// ... and of the DPF (dpf.h): dpfKeyWords(bits) words.
constexpr int kDpfForm = -1;

// DcfEval / DcfEval2 / DcfBitEval / DpfEval (inputs key [n, dcfKeyWords(bits, payloads)] or, for
// kDcfBitForm, [n, dcfBitKeyWords(bits)], for kDpfForm [n, dpfKeyWords(bits)], x [n]): bits, party, impl, dtypes, ranks, the key's width
// and the element counts.
DcfEvalArgs parseDcfEval(const std::string& op, int payloads, const Inputs& in, const Attrs& at);
// DcfEvalMany: its `payloads` attribute (1..kDcfMaxPayloads) checked, then parseDcfEval with it.
// Returns the payload count in `payloads`.
DcfEvalArgs parseDcfEvalMany(const std::string& op, const Inputs& in, const Attrs& at, int* payloads);
// DpfEvalAll (input key [n, dpfKeyWords(bits)], no x): bits (at most kDpfAllMaxBits), party, impl,
// the key's dtype, rank and width.
constexpr int kDpfAllMaxBits = 20;
DcfEvalArgs parseDpfEvalAll(const Inputs& in, const Attrs& at);

}  // namespace fss
}  // namespace tfe
