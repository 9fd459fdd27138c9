// The attributes every PRG kernel takes (seed, nonce, offset, shape, impl), parsed and checked
// once for the CPU and CUDA kernels alike (defined in prg_kernels.cc).
#pragma once
#include <cstdint>
#include <string>

#include "core/attrs.h"
#include "prg/aes128.h"

namespace tfe {

// Elements per stream: offsets and counts stay below 2^56 (PrgField's retry blocks live above).
constexpr uint64_t kMaxPrgElements = uint64_t(1) << 56;

struct PrgArgs {
  AesKey key;            // expanded from the 16-byte seed
  uint64_t nonce = 0;
  uint8_t iv[16] = {};   // nonce (8 bytes, big-endian) || block index 0
  uint64_t offset = 0;   // global index of the first element
  Shape shape;
  AesImpl impl = AesImpl::Auto;
};

PrgArgs parsePrgArgs(const std::string& op, const Attrs& at);
// PrgPermutation's extra checks (rows of length 1..256, row offset + rows <= 2^24); returns rows.
int64_t prgPermutationRows(const PrgArgs& a);

}  // namespace tfe
