// The many-payload DCF's walks eight elements per instruction (AVX-512F; the evaluation with
// VAES): the same functions as dcf_many.cc's scalar keygenBatch and evalBatch, word for word
// (tests compare both).
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

// Whether DcfKeygenMany takes the wide walk (AVX-512F on this CPU).
bool dcfKeygenManyWideAvailable();

// Both parties' keys of elements [first, first + kDcfManyBatch) (whole key tiles of key0, key1
// [n, dcfKeyWords(bits, P)]) for alpha [n] and beta [n, P], as keygenBatch.
void dcfKeygenManyBatchWide(const DcfKeygenArgs& a, int P, int64_t n, int64_t first, const uint64_t* alpha, const uint64_t* beta, uint64_t* key0,
                            uint64_t* key1);

}  // namespace fss
}  // namespace tfe
