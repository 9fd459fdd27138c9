// Elementwise arithmetic with broadcasting. The same kernel names serve every dtype:
// ring64 wraps mod 2^64, z<p> reduces mod p, and bit works mod 2 (add = sub = xor, mul = and).
#include <cstdint>
#include <vector>

#include "core/broadcast.h"
#include "core/registry.h"
#include "core/thread_pool.h"
#include "kernels/broadcast_binary.h"
#include "kernels/check.h"
#include "kernels/kernel_checks.h"

namespace tfe {

void checkAddN(const Inputs& in) {
  if (in.empty()) throw KernelError("AddN: needs at least one input");
  for (const Tensor& t : in) {
    requireSameDType("AddN", in[0], t);
    if (t.shape != in[0].shape) throw KernelError("AddN: shapes " + shapeStr(in[0].shape) + " and " + shapeStr(t.shape) + " differ");
  }
  if (in[0].dtype != DType::Ring64) throw KernelError("AddN: dtype " + in[0].dtypeName() + " is not supported (ring64)");
}

namespace {

constexpr int64_t kGrain = 1 << 15;


template <typename T, typename Op>
Tensor unaryMap(const Tensor& a, DType outType, uint32_t modulus, Op op) {
  Tensor out = allocTensor(a.shape, outType, modulus);
  const T* x = a.ptr<T>();
  auto* z = static_cast<decltype(op(T{}))*>(out.storage->data());
  parallelFor(0, a.size(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) z[i] = op(x[i]);
  });
  return out;
}

enum class BinOp { Add, Sub, Mul };

Outputs binary(const std::string& name, BinOp op, const Inputs& in) {
  const Tensor &a = in[0], &b = in[1];
  switch (a.dtype) {
    case DType::Ring64:
      if (op == BinOp::Add) return {binaryBroadcast<uint64_t>(name, a, b, [](uint64_t x, uint64_t y) { return x + y; })};
      if (op == BinOp::Sub) return {binaryBroadcast<uint64_t>(name, a, b, [](uint64_t x, uint64_t y) { return x - y; })};
      return {binaryBroadcast<uint64_t>(name, a, b, [](uint64_t x, uint64_t y) { return x * y; })};
    case DType::Field: {
      uint32_t p = a.modulus;
      // Operands are < p < 256, so sums and products fit in 16 bits before reduction.
      if (op == BinOp::Add)
        return {binaryBroadcast<uint8_t>(name, a, b, [p](uint8_t x, uint8_t y) { return uint8_t((unsigned(x) + y) % p); })};
      if (op == BinOp::Sub)
        return {binaryBroadcast<uint8_t>(name, a, b, [p](uint8_t x, uint8_t y) { return uint8_t((unsigned(x) + p - y) % p); })};
      return {binaryBroadcast<uint8_t>(name, a, b, [p](uint8_t x, uint8_t y) { return uint8_t((unsigned(x) * y) % p); })};
    }
    case DType::Bit:
      if (op == BinOp::Mul) return {binaryBroadcast<uint8_t>(name, a, b, [](uint8_t x, uint8_t y) { return uint8_t(x & y); })};
      return {binaryBroadcast<uint8_t>(name, a, b, [](uint8_t x, uint8_t y) { return uint8_t(x ^ y); })};
    default:
      throw KernelError(name + ": dtype " + a.dtypeName() + " is not supported");
  }
}

Outputs neg(const Inputs& in, const Attrs&) {
  const Tensor& a = in[0];
  switch (a.dtype) {
    case DType::Ring64: return {unaryMap<uint64_t>(a, a.dtype, 0, [](uint64_t x) { return uint64_t(0) - x; })};
    case DType::Field: {
      uint32_t p = a.modulus;
      return {unaryMap<uint8_t>(a, a.dtype, p, [p](uint8_t x) { return uint8_t((p - x) % p); })};
    }
    case DType::Bit: return {unaryMap<uint8_t>(a, a.dtype, 0, [](uint8_t x) { return x; })};
    default: throw KernelError("Neg: dtype " + a.dtypeName() + " is not supported");
  }
}

// Scalar variants: the scalar is a public ring element (bigint, or an integer that wraps mod 2^64).
// For z<p> and bit tensors it is reduced mod p / mod 2 first.
Outputs scalarOp(const std::string& name, BinOp op, bool reversed, const Inputs& in, const Attrs& at) {
  const Tensor& a = in[0];
  uint64_t s = at.getRing("scalar");
  if (a.dtype == DType::Ring64) {
    if (op == BinOp::Add) return {unaryMap<uint64_t>(a, a.dtype, 0, [s](uint64_t x) { return x + s; })};
    if (op == BinOp::Mul) return {unaryMap<uint64_t>(a, a.dtype, 0, [s](uint64_t x) { return x * s; })};
    if (reversed) return {unaryMap<uint64_t>(a, a.dtype, 0, [s](uint64_t x) { return s - x; })};
    return {unaryMap<uint64_t>(a, a.dtype, 0, [s](uint64_t x) { return x - s; })};
  }
  uint32_t p = a.dtype == DType::Field ? a.modulus : a.dtype == DType::Bit ? 2 : 0;
  if (p == 0) throw KernelError(name + ": dtype " + a.dtypeName() + " is not supported");
  // The scalar attribute is a ring element; a negative integer arrives as 2^64 - |v|.
  // Reduce it as a signed value so that -1 means p - 1.
  int64_t sv = static_cast<int64_t>(s);
  unsigned c = static_cast<unsigned>(((sv % int64_t(p)) + p) % p);
  if (op == BinOp::Add) return {unaryMap<uint8_t>(a, a.dtype, a.modulus, [p, c](uint8_t x) { return uint8_t((x + c) % p); })};
  if (op == BinOp::Mul) return {unaryMap<uint8_t>(a, a.dtype, a.modulus, [p, c](uint8_t x) { return uint8_t((x * c) % p); })};
  if (reversed) return {unaryMap<uint8_t>(a, a.dtype, a.modulus, [p, c](uint8_t x) { return uint8_t((c + p - x) % p); })};
  return {unaryMap<uint8_t>(a, a.dtype, a.modulus, [p, c](uint8_t x) { return uint8_t((x + p - c) % p); })};
}

int shiftAmount(const std::string& name, const Attrs& at) {
  int64_t k = at.getInt("bits");
  if (k < 0 || k > 63) throw KernelError(name + ": shift of " + std::to_string(k) + " bits is outside [0, 63]");
  return static_cast<int>(k);
}

// With negate: -((-x) >> k), server1's half of SecureML truncation, in one pass.
Outputs sar(const Inputs& in, const Attrs& at) {
  requireDType("ShiftRightArithmetic", in[0], DType::Ring64);
  int k = shiftAmount("ShiftRightArithmetic", at);
  if (at.getBool("negate", false))
    return {unaryMap<uint64_t>(in[0], DType::Ring64, 0, [k](uint64_t x) {
      return uint64_t(0) - static_cast<uint64_t>(static_cast<int64_t>(uint64_t(0) - x) >> k);
    })};
  return {unaryMap<uint64_t>(in[0], DType::Ring64, 0,
                             [k](uint64_t x) { return static_cast<uint64_t>(static_cast<int64_t>(x) >> k); })};
}

Outputs shr(const Inputs& in, const Attrs& at) {
  requireDType("ShiftRightLogical", in[0], DType::Ring64);
  int k = shiftAmount("ShiftRightLogical", at);
  return {unaryMap<uint64_t>(in[0], DType::Ring64, 0, [k](uint64_t x) { return x >> k; })};
}

Outputs shl(const Inputs& in, const Attrs& at) {
  requireDType("ShiftLeft", in[0], DType::Ring64);
  int k = shiftAmount("ShiftLeft", at);
  return {unaryMap<uint64_t>(in[0], DType::Ring64, 0, [k](uint64_t x) { return x << k; })};
}

// Sum of N same-shape tensors in one pass (Beaver products add three or four terms).
Outputs addN(const Inputs& in, const Attrs&) {
  checkAddN(in);
  Tensor out = allocTensor(in[0].shape, DType::Ring64);
  uint64_t* z = out.ptr<uint64_t>();
  std::vector<const uint64_t*> xs;
  for (const Tensor& t : in) xs.push_back(t.ptr<uint64_t>());
  parallelFor(0, out.size(), kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) z[i] = xs[0][i];
    for (size_t k = 1; k < xs.size(); ++k)
      for (int64_t i = lo; i < hi; ++i) z[i] += xs[k][i];
  });
  return {out};
}

TFE_REGISTER_KERNEL("AddN", -1, addN);
TFE_REGISTER_KERNEL("Add", 2, [](const Inputs& in, const Attrs&) { return binary("Add", BinOp::Add, in); });
TFE_REGISTER_KERNEL("Sub", 2, [](const Inputs& in, const Attrs&) { return binary("Sub", BinOp::Sub, in); });
TFE_REGISTER_KERNEL("Mul", 2, [](const Inputs& in, const Attrs&) { return binary("Mul", BinOp::Mul, in); });
TFE_REGISTER_KERNEL("Neg", 1, neg);
TFE_REGISTER_KERNEL("AddScalar", 1, [](const Inputs& in, const Attrs& at) { return scalarOp("AddScalar", BinOp::Add, false, in, at); });
TFE_REGISTER_KERNEL("SubScalar", 1, [](const Inputs& in, const Attrs& at) { return scalarOp("SubScalar", BinOp::Sub, false, in, at); });
TFE_REGISTER_KERNEL("ScalarSub", 1, [](const Inputs& in, const Attrs& at) { return scalarOp("ScalarSub", BinOp::Sub, true, in, at); });
TFE_REGISTER_KERNEL("MulScalar", 1, [](const Inputs& in, const Attrs& at) { return scalarOp("MulScalar", BinOp::Mul, false, in, at); });
TFE_REGISTER_KERNEL("ShiftRightArithmetic", 1, sar);
TFE_REGISTER_KERNEL("ShiftRightLogical", 1, shr);
TFE_REGISTER_KERNEL("ShiftLeft", 1, shl);

}  // namespace
}  // namespace tfe
