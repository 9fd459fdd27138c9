// Small-prime field kernels for SecureNN's bit shares (z<p> tensors, uint8 storage).
// Add/Sub/Mul/Neg for z<p> live in elementwise.cc under the shared names.
#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/check.h"

namespace tfe {
namespace {

// out[..., i] = sum_{k > i} x[..., k] mod p along the last axis. SecureNN's private compare
// needs, for each bit position i, the sum of the xor-differences at the more significant bits.
Outputs prefixSumReverseExclusive(const Inputs& in, const Attrs&) {
  const Tensor& a = in[0];
  if (a.dtype != DType::Field && a.dtype != DType::Ring64)
    throw KernelError("PrefixSumReverseExclusive: dtype " + a.dtypeName() + " is not supported (z<p> or ring64)");
  if (a.rank() < 1) throw KernelError("PrefixSumReverseExclusive: input must have rank >= 1, got shape []");
  Tensor out = allocTensor(a.shape, a.dtype, a.modulus);
  int64_t len = a.shape.back();
  int64_t rows = len == 0 ? 0 : a.size() / len;
  if (a.dtype == DType::Field) {
    const uint8_t* x = a.ptr<uint8_t>();
    uint8_t* z = out.ptr<uint8_t>();
    unsigned p = a.modulus;
    parallelFor(0, rows, 4096, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        unsigned acc = 0;
        for (int64_t i = len; i-- > 0;) {
          z[r * len + i] = static_cast<uint8_t>(acc);
          acc = (acc + x[r * len + i]) % p;
        }
      }
    });
  } else {
    const uint64_t* x = a.ptr<uint64_t>();
    uint64_t* z = out.ptr<uint64_t>();
    parallelFor(0, rows, 4096, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        uint64_t acc = 0;
        for (int64_t i = len; i-- > 0;) {
          z[r * len + i] = acc;
          acc += x[r * len + i];
        }
      }
    });
  }
  return {out};
}

TFE_REGISTER_KERNEL("PrefixSumReverseExclusive", 1, prefixSumReverseExclusive);

}  // namespace
}  // namespace tfe
