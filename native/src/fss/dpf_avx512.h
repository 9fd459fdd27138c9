// The DPF's evaluation eight elements per instruction with its AES in registers (AVX-512F and
// VAES, under impl auto where the CPU has them), and its keygen eight wide, for full batches: the
// same functions as dpf.cc's scalar loops, word for word (tests compare both).
#pragma once
#include <cstdint>

#include "fss/dcf_args.h"

namespace tfe {
namespace fss {

// Elements per batch of the DPF's walks (dpf.cc): four groups of eight lanes.
constexpr int kDpfBatch = 32;

bool dpfEvalVaesAvailable(AesImpl impl);
// Outputs of elements [first, first + kDpfBatch), as dpf.cc's evalBatch, prefetching key lines a
// few levels ahead (into the next batch's tiles when it ends by `end`).
void dpfEvalBatchVaes(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* x, uint64_t* y, int64_t end);

// The keygen eight elements per instruction (AVX-512F, on CPUs with VAES; not under impl
// portable, which tests compare it with): both keys of elements [first, first + kDpfBatch) as
// dpf.cc's keygenBatch writes them, word for word.
bool dpfKeygenWideAvailable(AesImpl impl);
void dpfKeygenBatchWide(const DcfKeygenArgs& a, int64_t first, const uint64_t* alpha, const uint64_t* beta, uint64_t* key0, uint64_t* key1);

}  // namespace fss
}  // namespace tfe
