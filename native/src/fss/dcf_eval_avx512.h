// The DCF evaluation's per-level bookkeeping eight elements per instruction (AVX-512F), for full
// batches: the same function as dcf_eval.cc's scalar loop, word for word (tests compare both).
#pragma once
#include <cstdint>

#include "fss/dcf_args.h"

namespace tfe {
namespace fss {

// Elements per batch of both walks (dcf_eval.cc): four groups of eight lanes.
constexpr int kDcfEvalBatch = 32;

// Whether the CPU runs the wide walk (AVX-512F, checked at run time).
bool dcfEvalWideAvailable();

// Evaluates elements [first, first + kDcfEvalBatch) with P (1 or 2) payloads, as evalBatch<P>,
// and prefetches the first lines of the next batch's key tiles (when it ends by `end`).
template <int P>
void dcfEvalBatchWide(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* x, uint64_t* const* y,
                      int64_t end);

// The wide walk with its AES in registers (VAES, under impl auto where the CPU has it): the same
// function as dcfEvalBatchWide, for elements [first, first + kDcfEvalBatch).
bool dcfEvalVaesAvailable(AesImpl impl);
template <int P>
void dcfEvalBatchVaes(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* x, uint64_t* const* y,
                      int64_t end);

}  // namespace fss
}  // namespace tfe
