// The many-payload DCF evaluation's walk eight elements per instruction (AVX-512F with VAES):
// the same function as dcf_many.cc's scalar evalBatch, word for word (tests compare both).
#pragma once
#include <cstdint>

#include "fss/dcf_args.h"

namespace tfe {
namespace fss {

// Elements per batch of the wide walk: four groups of eight lanes (whole key tiles).
constexpr int kDcfManyBatch = 32;

// Whether DcfEvalMany takes the wide walk: AVX-512F and VAES on this CPU, and impl allows VAES.
bool dcfEvalManyWideAvailable(AesImpl impl);

// One party's shares of elements [first, first + kDcfManyBatch) into rows of y [n, P], as
// evalBatch; prefetches the next batch's first key lines when it ends by `end`.
void dcfEvalManyBatchWide(const DcfEvalArgs& a, int P, int64_t first, const uint64_t* keys, const uint64_t* x, uint64_t* y, int64_t end);

}  // namespace fss
}  // namespace tfe
