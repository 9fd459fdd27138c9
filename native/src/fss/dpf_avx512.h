// The DPF's evaluation eight elements per instruction with its AES in registers (AVX-512F and
// VAES, under impl auto where the CPU has them), for full batches: the same function as dpf.cc's
// scalar loop, word for word (tests compare both).
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

}  // namespace fss
}  // namespace tfe
