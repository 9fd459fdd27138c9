// The DCF key generation's per-level arithmetic eight elements per instruction (AVX-512F), for
// full batches: the same keys as dcf_keygen.cc's scalar walk, word for word (tests compare both).
#pragma once
#include <cstdint>

#include "fss/dcf_args.h"

namespace tfe {
namespace fss {

// Elements per batch of both walks (dcf_keygen.cc): four groups of eight lanes.
constexpr int kDcfKeygenBatch = 32;

// Whether the CPU runs the wide walk (AVX-512F, checked at run time).
bool dcfKeygenWideAvailable();

// Keys for elements [first, first + kDcfKeygenBatch) with P (1 or 2) payloads, as keygenBatch<P>.
template <int P>
void dcfKeygenBatchWide(const DcfKeygenArgs& a, int64_t first, const uint64_t* alpha, const uint64_t* const* beta, uint64_t* key0,
                        uint64_t* key1);

}  // namespace fss
}  // namespace tfe
