// Fixed-point encoding between float64 and Z_2^64: x -> round(x * 2^f) in two's complement.
#include <atomic>
#include <charconv>
#include <cmath>
#include <sstream>

#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/check.h"
#include "kernels/kernel_checks.h"

namespace tfe {

std::string shortestDouble(double v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

int fixedPointFracBits(const std::string& op, const Attrs& at) {
  int64_t f = at.getInt("fracBits", 16);
  if (f < 0 || f > 62) throw KernelError(op + ": fracBits " + std::to_string(f) + " is outside [0, 62]");
  return static_cast<int>(f);
}

namespace {

Outputs encode(const Inputs& in, const Attrs& at) {
  requireDType("EncodeFixedPoint", in[0], DType::F64);
  int f = fixedPointFracBits("EncodeFixedPoint", at);
  const double* x = in[0].ptr<double>();
  Tensor out = allocTensor(in[0].shape, DType::Ring64);
  uint64_t* z = out.ptr<uint64_t>();
  const double scale = std::ldexp(1.0, f), limit = std::ldexp(1.0, 63);
  int64_t n = in[0].size();
  // Find the first offending index across all chunks, so the error is deterministic.
  std::atomic<int64_t> bad{n};
  parallelFor(0, n, 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      double v = std::nearbyint(x[i] * scale);
      if (!(v >= -limit && v < limit)) {  // also false for NaN
        int64_t cur = bad.load();
        while (i < cur && !bad.compare_exchange_weak(cur, i)) {}
        return;
      }
      z[i] = static_cast<uint64_t>(static_cast<int64_t>(v));
    }
  });
  if (int64_t i = bad.load(); i < n) {
    std::ostringstream o;
    o << "EncodeFixedPoint: ";
    if (std::isnan(x[i])) o << "NaN at index " << i << " cannot be encoded";
    else if (std::isinf(x[i])) o << (x[i] > 0 ? "+Infinity" : "-Infinity") << " at index " << i << " cannot be encoded";
    else
      o << "value " << shortestDouble(x[i]) << " at index " << i << " is outside the representable range [-2^" << (63 - f) << ", 2^"
        << (63 - f) << ") for " << f << " fractional bits";
    throw KernelError(o.str());
  }
  return {out};
}

Outputs decode(const Inputs& in, const Attrs& at) {
  requireDType("DecodeFixedPoint", in[0], DType::Ring64);
  int f = fixedPointFracBits("DecodeFixedPoint", at);
  const uint64_t* x = in[0].ptr<uint64_t>();
  Tensor out = allocTensor(in[0].shape, DType::F64);
  double* z = out.ptr<double>();
  const double inv = std::ldexp(1.0, -f);
  parallelFor(0, in[0].size(), 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) z[i] = static_cast<double>(static_cast<int64_t>(x[i])) * inv;
  });
  return {out};
}

TFE_REGISTER_KERNEL("EncodeFixedPoint", 1, encode);
TFE_REGISTER_KERNEL("DecodeFixedPoint", 1, decode);

}  // namespace
}  // namespace tfe
