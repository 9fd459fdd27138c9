// The PRG's z<p> and permutation streams (layout in prg_kernels.cc), generated in batches: the
// PrgField and PrgPermutation kernels and the fused SecureNN kernels (kernels/securenn_fused.cc)
// share these, so a fused kernel draws exactly the values the separate PRG kernels would.
#pragma once
#include <cstdint>

#include "prg/aes128.h"

namespace tfe {

// Rejection sampling of 16-bit words into [base, base + range): word w is accepted when w < limit =
// 2^16 - 2^16 mod range (no modulo bias) and maps to w mod range + base. At most 2^-10 of the words
// are rejected for any range below 256 (10 in 65536 for Z_67), where bytes rejected up to 22%.
struct FieldSampler {
  FieldSampler(unsigned modulus, bool nonzero);
  unsigned range, base, limit, recip;  // recip = floor(2^16 / range)
  uint8_t element(uint32_t word) const;  // word's element, or kRejected
  static constexpr uint8_t kRejected = 0xff;
};

// Elements [first, first + count) of the z<p> stream under (key, iv) into dst: element j is
// keystream word j (bytes [2j, 2j + 2), little-endian); a rejected word takes element j's retry
// blocks (attempt * 2^56 + j, eight words each).
void sampleField(const AesKey& key, const uint8_t iv[16], AesImpl impl, const FieldSampler& fs, uint64_t first,
                 int64_t count, uint8_t* dst);

// Permutation rows [firstRow, firstRow + rows) of length len (1..256): dst[r * len + i] is where
// element i of row r goes. Row g draws Fisher-Yates indices from blocks g * 2^40 on, five blocks at
// a time; the first five blocks of eight rows are computed together.
void samplePermutations(const AesKey& key, const uint8_t iv[16], AesImpl impl, uint64_t firstRow, int64_t rows,
                        int64_t len, uint8_t* dst);

// The same rows' Fisher-Yates draws instead of the permutations: draws[r * len + d] for d < len - 1
// is the index position len - 1 - d swaps with (uniform in [0, len - 1 - d]); draws[r * len + len - 1]
// is 0. The permutation is identity followed by swap(p[len - 1 - d], p[draw_d]) for d = 0, 1, ...;
// applying those swaps to a vector v in the opposite order (d = len - 2 down to 0) moves v[i] to
// position p[i], which is how the fused PrivateCompare kernel permutes without building p.
void samplePermutationDraws(const AesKey& key, const uint8_t iv[16], AesImpl impl, uint64_t firstRow, int64_t rows,
                            int64_t len, uint8_t* draws);

}  // namespace tfe
