// Limb arithmetic of the ring GEMM candidates that run on narrower units than uint64
// (matmul_fp64.cu on the fp64 units, matmul_int8.cu on the int8 tensor cores). Written as TFE_HD
// functions so that test/host_check_limbs.cc runs the very same split and fold code on the CPU and
// compares it with the CPU MatMul: that is how exactness is established without a GPU.
//
// Both candidates rest on one identity. Write x = sum_l 2^(w l) x_l with w-bit limbs. Then
//   a * b mod 2^64 = sum_s 2^(w s) S_s mod 2^64,  S_s = sum_{i+j=s} a_i b_j,
// and pairs with w (i + j) >= 64 vanish mod 2^64. Over a K-sum the same holds with S_s summed over
// k, and 2^(w s) S_s mod 2^64 depends only on S_s mod 2^(64 - w s): a diagonal s only needs its
// sum exact modulo 2^(64 - w s), which decides how long a K-chunk may be.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/hd.h"

namespace tfe {
namespace cuda {

// ---------------------------------------------------------------- fp64: four 16-bit limbs
// Diagonals s = 0..3 hold the 1 + 2 + 3 + 4 = 10 limb pairs with i + j < 4.
constexpr int kFp64Limbs = 4;
// Each diagonal is summed in one double; every term is a product of two 16-bit limbs and there are
// at most four pairs per diagonal, so after c k-steps the sum is at most 4 c (2^16 - 1)^2. Below
// 2^53 every partial sum (all terms are non-negative) is an exact integer, whatever order the
// fp64 units add in. 2^19 is the longest power-of-two chunk that keeps it there.
constexpr int64_t kFp64ChunkK = int64_t(1) << 19;
static_assert(uint64_t(4) * uint64_t(kFp64ChunkK) * 65535u * 65535u < (uint64_t(1) << 53),
              "an fp64 diagonal sum over one chunk must stay an exact integer");

TFE_HD uint32_t limb16(uint64_t x, int l) { return static_cast<uint32_t>(x >> (16 * l)) & 0xFFFFu; }

// v < 2^52 to double, exactly: 2^52 + v has v as its low mantissa bits, and subtracting 2^52 is
// exact. An integer OR and one fp64 add, cheaper on the GPU than the int-to-double converter.
TFE_HD double smallToDouble(uint32_t v) {
  uint64_t bits = 0x4330000000000000ull | v;
#if defined(__CUDA_ARCH__)
  double d = __longlong_as_double(static_cast<long long>(bits));
#else
  double d;
  std::memcpy(&d, &bits, sizeof d);
#endif
  return d - 4503599627370496.0;
}

// The four 16-bit limbs of x as doubles (limb 0 least significant).
TFE_HD void fp64Split(uint64_t x, double out[kFp64Limbs]) {
  for (int l = 0; l < kFp64Limbs; ++l) out[l] = smallToDouble(limb16(x, l));
}

// sum_s 2^(16 s) acc_s mod 2^64 for the diagonal sums of one chunk. Each acc_s is an exact
// integer below 2^53, so the conversion to uint64 is exact; the shifts drop what lands at bit 64+.
TFE_HD uint64_t fp64Fold(const double acc[kFp64Limbs]) {
  uint64_t v = 0;
  for (int s = 0; s < kFp64Limbs; ++s) v += static_cast<uint64_t>(acc[s]) << (16 * s);
  return v;
}

// ---------------------------------------------------------------- int8: eight 8-bit limbs
// Diagonals s = 0..7 hold the 36 limb pairs with i + j < 8 (pairs with i + j >= 8 are dropped).
constexpr int kInt8Limbs = 8;
// The tensor cores accumulate u8 x u8 products in int32 registers that wrap mod 2^32 (no
// .satfinite). Diagonals s >= 4 land at bit 8 s >= 32 and need their sum only mod
// 2^(64 - 8 s), a divisor of 2^32: the wrap-around is harmless, however long K is. Diagonals
// s < 4 need their sum exactly: at most four pairs of products <= 255^2 per k-step, so a chunk of
// 2^14 k-steps stays below 2^32 (the int32 register read as uint32). Between chunks the kernel
// folds into uint64.
constexpr int64_t kInt8ChunkK = int64_t(1) << 14;
static_assert(uint64_t(4) * uint64_t(kInt8ChunkK) * 255u * 255u < (uint64_t(1) << 32),
              "an exact int8 diagonal sum over one chunk must fit in 32 bits");

TFE_HD uint32_t limb8(uint64_t x, int l) { return static_cast<uint32_t>(x >> (8 * l)) & 0xFFu; }

// __byte_perm on the device; on the host the same selection for selector nibbles 0..7 (the only
// ones used here): result byte t is byte (s >> 4t) & 7 of the eight bytes {y:x}, x least.
TFE_HD uint32_t bytePerm(uint32_t x, uint32_t y, uint32_t s) {
#if defined(__CUDA_ARCH__)
  return __byte_perm(x, y, s);
#else
  uint64_t v = (static_cast<uint64_t>(y) << 32) | x;
  uint32_t r = 0;
  for (int t = 0; t < 4; ++t) r |= static_cast<uint32_t>((v >> (8 * ((s >> (4 * t)) & 7))) & 0xFF) << (8 * t);
  return r;
#endif
}

// Limb l of four consecutive ring elements, packed little-endian into one 32-bit word: four
// consecutive entries of the u8 limb plane l, as the split kernel writes them. Three byte
// permutes instead of four shift-mask-or steps.
TFE_HD uint32_t packLimb8(uint64_t x0, uint64_t x1, uint64_t x2, uint64_t x3, int l) {
  const int h = l >> 2, b = l & 3;  // which 32-bit half, which byte in it
  uint32_t w0 = static_cast<uint32_t>(x0 >> (32 * h)), w1 = static_cast<uint32_t>(x1 >> (32 * h));
  uint32_t w2 = static_cast<uint32_t>(x2 >> (32 * h)), w3 = static_cast<uint32_t>(x3 >> (32 * h));
  const uint32_t sel = static_cast<uint32_t>(b | ((4 + b) << 4));  // byte b of x, then byte b of y
  return bytePerm(bytePerm(w0, w1, sel), bytePerm(w2, w3, sel), 0x5410);
}

// sum_s 2^(8 s) acc_s mod 2^64 for the int32 diagonal accumulators of one chunk, read as uint32.
TFE_HD uint64_t int8Fold(const uint32_t acc[kInt8Limbs]) {
  uint64_t v = 0;
  for (int s = 0; s < kInt8Limbs; ++s) v += static_cast<uint64_t>(acc[s]) << (8 * s);
  return v;
}

}  // namespace cuda
}  // namespace tfe
