// Bit-level kernels: extraction, decomposition into bit-planes, xor/and on bit tensors and
// dtype casts between bit, ring64 and z<p>.
#include "core/broadcast.h"
#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/broadcast_binary.h"
#include "kernels/check.h"

namespace tfe {
namespace {

constexpr int64_t kGrain = 1 << 15;

Outputs bitExtract(const Inputs& in, const Attrs& at) {
  requireDType("BitExtract", in[0], DType::Ring64);
  int64_t k = at.getInt("bit");
  if (k < 0 || k > 63) throw KernelError("BitExtract: bit index " + std::to_string(k) + " is outside [0, 63]");
  Tensor out = allocTensor(in[0].shape, DType::Bit);
  const uint64_t* x = in[0].ptr<uint64_t>();
  uint8_t* z = out.ptr<uint8_t>();
  parallelFor(0, out.size(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) z[i] = static_cast<uint8_t>((x[i] >> k) & 1u);
  });
  return {out};
}

// [..] -> [.., 64], bit i of each element at position i (least significant first).
Outputs bitDecompose(const Inputs& in, const Attrs&) {
  requireDType("BitDecompose", in[0], DType::Ring64);
  Shape s = in[0].shape;
  s.push_back(64);
  Tensor out = allocTensor(s, DType::Bit);
  const uint64_t* x = in[0].ptr<uint64_t>();
  uint8_t* z = out.ptr<uint8_t>();
  parallelFor(0, in[0].size(), kGrain / 64, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      for (int b = 0; b < 64; ++b) z[i * 64 + b] = static_cast<uint8_t>((x[i] >> b) & 1u);
  });
  return {out};
}

template <typename Op>
Tensor bitBinary(const std::string& name, const Tensor& a, const Tensor& b, Op op) {
  requireDType(name, a, DType::Bit, "first input");
  requireDType(name, b, DType::Bit, "second input");
  return binaryBroadcast<uint8_t>(name, a, b, op);
}

Outputs castTo(const Inputs& in, const Attrs& at) {
  const Tensor& a = in[0];
  DType to;
  uint32_t p;
  parseDType(at.getString("dtype"), &to, &p);
  std::string from = a.dtypeName(), target = dtypeToString(to, p);
  if (a.dtype == to && a.modulus == p) return {a};
  Tensor out = allocTensor(a.shape, to, p);
  int64_t n = a.size();
  auto run = [&](auto body) { parallelFor(0, n, kGrain, [&](int64_t lo, int64_t hi) { for (int64_t i = lo; i < hi; ++i) body(i); }); };
  if ((a.dtype == DType::Bit || a.dtype == DType::Field) && to == DType::Ring64) {
    const uint8_t* x = a.ptr<uint8_t>();
    uint64_t* z = out.ptr<uint64_t>();
    run([&](int64_t i) { z[i] = x[i]; });
  } else if (a.dtype == DType::Bit && to == DType::Field) {
    const uint8_t* x = a.ptr<uint8_t>();
    uint8_t* z = out.ptr<uint8_t>();
    run([&](int64_t i) { z[i] = x[i]; });
  } else if (a.dtype == DType::Ring64 && to == DType::Field) {
    const uint64_t* x = a.ptr<uint64_t>();
    uint8_t* z = out.ptr<uint8_t>();
    run([&](int64_t i) { z[i] = static_cast<uint8_t>(x[i] % p); });
  } else if (a.dtype == DType::Ring64 && to == DType::Bit) {
    const uint64_t* x = a.ptr<uint64_t>();
    uint8_t* z = out.ptr<uint8_t>();
    run([&](int64_t i) { z[i] = static_cast<uint8_t>(x[i] & 1u); });
  } else {
    throw KernelError("Cast: no cast from " + from + " to " + target);
  }
  return {out};
}

TFE_REGISTER_KERNEL("BitExtract", 1, bitExtract);
TFE_REGISTER_KERNEL("BitDecompose", 1, bitDecompose);
TFE_REGISTER_KERNEL("Xor", 2, [](const Inputs& in, const Attrs&) {
  return Outputs{bitBinary("Xor", in[0], in[1], [](uint8_t x, uint8_t y) { return uint8_t(x ^ y); })};
});
TFE_REGISTER_KERNEL("And", 2, [](const Inputs& in, const Attrs&) {
  return Outputs{bitBinary("And", in[0], in[1], [](uint8_t x, uint8_t y) { return uint8_t(x & y); })};
});
TFE_REGISTER_KERNEL("Cast", 1, castTo);

}  // namespace
}  // namespace tfe
