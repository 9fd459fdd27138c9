// The one-bit DCF's walks eight elements per instruction (AVX-512F), for full batches: the same
// functions as dcf_bit.cc's scalar loops, word for word (tests compare both).
#pragma once
#include <cstdint>

#include "fss/dcf_args.h"

namespace tfe {
namespace fss {

// Elements per batch of the one-bit DCF's walks (dcf_bit.cc): four groups of eight lanes.
constexpr int kDcfBitBatch = 32;

// Whether the CPU runs the wide walks (AVX-512F, checked at run time).
bool dcfBitWideAvailable();

// Keys for elements [first, first + kDcfBitBatch), as dcf_bit.cc's keygenBatch.
void dcfBitKeygenBatchWide(const DcfKeygenArgs& a, int64_t first, const uint64_t* alpha, const uint64_t* offset, uint64_t* key0,
                           uint64_t* key1);

// Outputs of elements [first, first + kDcfBitBatch), as dcf_bit.cc's evalBatch, prefetching key
// lines a few levels ahead (into the next batch's tiles when it ends by `end`).
void dcfBitEvalBatchWide(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* x, uint8_t* y, int64_t end);

// dcfBitEvalBatchWide with its AES in registers (VAES, under impl auto where the CPU has it): the
// same function.
bool dcfBitEvalVaesAvailable(AesImpl impl);
void dcfBitEvalBatchVaes(const DcfEvalArgs& a, int64_t first, const uint64_t* keys, const uint64_t* x, uint8_t* y, int64_t end);

}  // namespace fss
}  // namespace tfe
