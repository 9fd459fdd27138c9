// CUDA elementwise arithmetic, mirroring kernels/elementwise.cc: the same kernel names for
// every dtype (ring64 wraps mod 2^64, z<p> reduces mod p, bit works mod 2).
#include <vector>

#include "core/registry.h"
#include "cuda/launch.cuh"
#include "kernels/kernel_checks.h"

namespace tfe {
namespace cuda {
namespace {

enum class BinOp { Add, Sub, Mul };

struct RingAdd { __device__ uint64_t operator()(uint64_t x, uint64_t y) const { return x + y; } };
struct RingSub { __device__ uint64_t operator()(uint64_t x, uint64_t y) const { return x - y; } };
struct RingMul { __device__ uint64_t operator()(uint64_t x, uint64_t y) const { return x * y; } };
struct FieldAdd { unsigned p; __device__ uint8_t operator()(uint8_t x, uint8_t y) const { return uint8_t((unsigned(x) + y) % p); } };
struct FieldSub { unsigned p; __device__ uint8_t operator()(uint8_t x, uint8_t y) const { return uint8_t((unsigned(x) + p - y) % p); } };
struct FieldMul { unsigned p; __device__ uint8_t operator()(uint8_t x, uint8_t y) const { return uint8_t((unsigned(x) * y) % p); } };
struct BitXor { __device__ uint8_t operator()(uint8_t x, uint8_t y) const { return uint8_t(x ^ y); } };
struct BitAnd { __device__ uint8_t operator()(uint8_t x, uint8_t y) const { return uint8_t(x & y); } };

Outputs binary(const std::string& name, BinOp op, const Inputs& in) {
  const Tensor &a = in[0], &b = in[1];
  switch (a.dtype) {
    case DType::Ring64:
      if (op == BinOp::Add) return {binaryBroadcast<uint64_t>(name, a, b, RingAdd{})};
      if (op == BinOp::Sub) return {binaryBroadcast<uint64_t>(name, a, b, RingSub{})};
      return {binaryBroadcast<uint64_t>(name, a, b, RingMul{})};
    case DType::Field:
      if (op == BinOp::Add) return {binaryBroadcast<uint8_t>(name, a, b, FieldAdd{a.modulus})};
      if (op == BinOp::Sub) return {binaryBroadcast<uint8_t>(name, a, b, FieldSub{a.modulus})};
      return {binaryBroadcast<uint8_t>(name, a, b, FieldMul{a.modulus})};
    case DType::Bit:
      if (op == BinOp::Mul) return {binaryBroadcast<uint8_t>(name, a, b, BitAnd{})};
      return {binaryBroadcast<uint8_t>(name, a, b, BitXor{})};
    default:
      throw KernelError(name + ": dtype " + a.dtypeName() + " is not supported");
  }
}

struct RingNeg { __device__ uint64_t operator()(uint64_t x) const { return uint64_t(0) - x; } };
struct FieldNeg { unsigned p; __device__ uint8_t operator()(uint8_t x) const { return uint8_t((p - x) % p); } };
struct RingAdd1 { __device__ uint64_t operator()(uint64_t x) const { return x; } };  // AddN of one input: a copy
struct Identity8 { __device__ uint8_t operator()(uint8_t x) const { return x; } };

Outputs neg(const Inputs& in, const Attrs&) {
  const Tensor& a = in[0];
  switch (a.dtype) {
    case DType::Ring64: return {unaryMap<uint64_t, uint64_t>(a, a.dtype, 0, RingNeg{})};
    case DType::Field: return {unaryMap<uint8_t, uint8_t>(a, a.dtype, a.modulus, FieldNeg{a.modulus})};
    case DType::Bit: return {unaryMap<uint8_t, uint8_t>(a, a.dtype, 0, Identity8{})};
    default: throw KernelError("Neg: dtype " + a.dtypeName() + " is not supported");
  }
}

// Scalar ops; `reversed` is scalar - x. For fields c is the scalar reduced mod p.
struct RingScalar {
  BinOp op;
  bool reversed;
  uint64_t s;
  __device__ uint64_t operator()(uint64_t x) const {
    if (op == BinOp::Add) return x + s;
    if (op == BinOp::Mul) return x * s;
    return reversed ? s - x : x - s;
  }
};
struct FieldScalar {
  BinOp op;
  bool reversed;
  unsigned p, c;
  __device__ uint8_t operator()(uint8_t x) const {
    if (op == BinOp::Add) return uint8_t((x + c) % p);
    if (op == BinOp::Mul) return uint8_t((x * c) % p);
    return reversed ? uint8_t((c + p - x) % p) : uint8_t((x + p - c) % p);
  }
};

Outputs scalarOp(const std::string& name, BinOp op, bool reversed, const Inputs& in, const Attrs& at) {
  const Tensor& a = in[0];
  uint64_t s = at.getRing("scalar");
  if (a.dtype == DType::Ring64) return {unaryMap<uint64_t, uint64_t>(a, a.dtype, 0, RingScalar{op, reversed, s})};
  uint32_t p = a.dtype == DType::Field ? a.modulus : a.dtype == DType::Bit ? 2 : 0;
  if (p == 0) throw KernelError(name + ": dtype " + a.dtypeName() + " is not supported");
  // As on the CPU: the scalar is reduced as a signed value, so -1 means p - 1.
  int64_t sv = static_cast<int64_t>(s);
  unsigned c = static_cast<unsigned>(((sv % int64_t(p)) + p) % p);
  return {unaryMap<uint8_t, uint8_t>(a, a.dtype, a.modulus, FieldScalar{op, reversed, p, c})};
}

int shiftAmount(const std::string& name, const Attrs& at) {
  int64_t k = at.getInt("bits");
  if (k < 0 || k > 63) throw KernelError(name + ": shift of " + std::to_string(k) + " bits is outside [0, 63]");
  return static_cast<int>(k);
}

struct Sar { int k; __device__ uint64_t operator()(uint64_t x) const { return static_cast<uint64_t>(static_cast<int64_t>(x) >> k); } };
// -((-x) >> k): server1's half of SecureML truncation in one pass.
struct SarNegate {
  int k;
  __device__ uint64_t operator()(uint64_t x) const {
    return uint64_t(0) - static_cast<uint64_t>(static_cast<int64_t>(uint64_t(0) - x) >> k);
  }
};
struct Shr { int k; __device__ uint64_t operator()(uint64_t x) const { return x >> k; } };
struct Shl { int k; __device__ uint64_t operator()(uint64_t x) const { return x << k; } };

Outputs sar(const Inputs& in, const Attrs& at) {
  requireDType("ShiftRightArithmetic", in[0], DType::Ring64);
  int k = shiftAmount("ShiftRightArithmetic", at);
  if (at.getBool("negate", false)) return {unaryMap<uint64_t, uint64_t>(in[0], DType::Ring64, 0, SarNegate{k})};
  return {unaryMap<uint64_t, uint64_t>(in[0], DType::Ring64, 0, Sar{k})};
}

Outputs shr(const Inputs& in, const Attrs& at) {
  requireDType("ShiftRightLogical", in[0], DType::Ring64);
  return {unaryMap<uint64_t, uint64_t>(in[0], DType::Ring64, 0, Shr{shiftAmount("ShiftRightLogical", at)})};
}

Outputs shl(const Inputs& in, const Attrs& at) {
  requireDType("ShiftLeft", in[0], DType::Ring64);
  return {unaryMap<uint64_t, uint64_t>(in[0], DType::Ring64, 0, Shl{shiftAmount("ShiftLeft", at)})};
}

__global__ void accumulate(uint64_t* __restrict__ z, const uint64_t* __restrict__ x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) z[i] += x[i];
}

Outputs addN(const Inputs& in, const Attrs&) {
  checkAddN(in);
  int64_t n = in[0].size();
  if (in.size() == 1) return {unaryMap<uint64_t, uint64_t>(in[0], DType::Ring64, 0, RingAdd1{})};
  Tensor out = binaryBroadcast<uint64_t>("AddN", in[0], in[1], RingAdd{});
  for (size_t k = 2; k < in.size() && n > 0; ++k) {
    accumulate<<<gridFor(n), 256, 0, currentStream()>>>(devPtr<uint64_t>(out), devPtr<uint64_t>(in[k]), n);
    TFE_CUDA_LAUNCHED();
  }
  return {out};
}

TFE_REGISTER_CUDA_KERNEL("AddN", -1, addN);
TFE_REGISTER_CUDA_KERNEL("Add", 2, [](const Inputs& in, const Attrs&) { return binary("Add", BinOp::Add, in); });
TFE_REGISTER_CUDA_KERNEL("Sub", 2, [](const Inputs& in, const Attrs&) { return binary("Sub", BinOp::Sub, in); });
TFE_REGISTER_CUDA_KERNEL("Mul", 2, [](const Inputs& in, const Attrs&) { return binary("Mul", BinOp::Mul, in); });
TFE_REGISTER_CUDA_KERNEL("Neg", 1, neg);
TFE_REGISTER_CUDA_KERNEL("AddScalar", 1, [](const Inputs& in, const Attrs& at) { return scalarOp("AddScalar", BinOp::Add, false, in, at); });
TFE_REGISTER_CUDA_KERNEL("SubScalar", 1, [](const Inputs& in, const Attrs& at) { return scalarOp("SubScalar", BinOp::Sub, false, in, at); });
TFE_REGISTER_CUDA_KERNEL("ScalarSub", 1, [](const Inputs& in, const Attrs& at) { return scalarOp("ScalarSub", BinOp::Sub, true, in, at); });
TFE_REGISTER_CUDA_KERNEL("MulScalar", 1, [](const Inputs& in, const Attrs& at) { return scalarOp("MulScalar", BinOp::Mul, false, in, at); });
TFE_REGISTER_CUDA_KERNEL("ShiftRightArithmetic", 1, sar);
TFE_REGISTER_CUDA_KERNEL("ShiftRightLogical", 1, shr);
TFE_REGISTER_CUDA_KERNEL("ShiftLeft", 1, shl);

}  // namespace
}  // namespace cuda
}  // namespace tfe
