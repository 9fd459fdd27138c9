// CUDA bit-level kernels, mirroring kernels/bits.cc: extraction, decomposition into bit-planes,
// xor/and on bit tensors and dtype casts between bit, ring64 and z<p>.
#include "core/registry.h"
#include "cuda/launch.cuh"

namespace tfe {
namespace cuda {
namespace {

struct BitOf { int k; __device__ uint8_t operator()(uint64_t x) const { return static_cast<uint8_t>((x >> k) & 1u); } };

Outputs bitExtract(const Inputs& in, const Attrs& at) {
  requireDType("BitExtract", in[0], DType::Ring64);
  int64_t k = at.getInt("bit");
  if (k < 0 || k > 63) throw KernelError("BitExtract: bit index " + std::to_string(k) + " is outside [0, 63]");
  return {unaryMap<uint64_t, uint8_t>(in[0], DType::Bit, 0, BitOf{static_cast<int>(k)})};
}

// One thread per output bit: neighbouring threads write neighbouring bytes.
__global__ void decomposeKernel(const uint64_t* __restrict__ x, uint8_t* __restrict__ z, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    z[i] = static_cast<uint8_t>((x[i >> 6] >> (i & 63)) & 1u);
}

Outputs bitDecompose(const Inputs& in, const Attrs&) {
  requireDType("BitDecompose", in[0], DType::Ring64);
  Shape s = in[0].shape;
  s.push_back(64);
  Tensor out = allocDevice(s, DType::Bit);
  int64_t n = out.size();
  if (n) {
    decomposeKernel<<<gridFor(n), 256, 0, currentStream()>>>(devPtr<uint64_t>(in[0]), devPtr<uint8_t>(out), n);
    TFE_CUDA_LAUNCHED();
  }
  return {out};
}

struct Xor8 { __device__ uint8_t operator()(uint8_t x, uint8_t y) const { return uint8_t(x ^ y); } };
struct And8 { __device__ uint8_t operator()(uint8_t x, uint8_t y) const { return uint8_t(x & y); } };

template <typename Op>
Outputs bitBinary(const std::string& name, const Inputs& in, Op op) {
  requireDType(name, in[0], DType::Bit, "first input");
  requireDType(name, in[1], DType::Bit, "second input");
  return {binaryBroadcast<uint8_t>(name, in[0], in[1], op)};
}

struct Widen { __device__ uint64_t operator()(uint8_t x) const { return x; } };
struct Same8 { __device__ uint8_t operator()(uint8_t x) const { return x; } };
struct RingModP { unsigned p; __device__ uint8_t operator()(uint64_t x) const { return static_cast<uint8_t>(x % p); } };
struct RingLowBit { __device__ uint8_t operator()(uint64_t x) const { return static_cast<uint8_t>(x & 1u); } };

Outputs castTo(const Inputs& in, const Attrs& at) {
  const Tensor& a = in[0];
  DType to;
  uint32_t p;
  parseDType(at.getString("dtype"), &to, &p);
  if (a.dtype == to && a.modulus == p) return {a};
  if ((a.dtype == DType::Bit || a.dtype == DType::Field) && to == DType::Ring64) return {unaryMap<uint8_t, uint64_t>(a, to, p, Widen{})};
  if (a.dtype == DType::Bit && to == DType::Field) return {unaryMap<uint8_t, uint8_t>(a, to, p, Same8{})};
  if (a.dtype == DType::Ring64 && to == DType::Field) return {unaryMap<uint64_t, uint8_t>(a, to, p, RingModP{p})};
  if (a.dtype == DType::Ring64 && to == DType::Bit) return {unaryMap<uint64_t, uint8_t>(a, to, p, RingLowBit{})};
  throw KernelError("Cast: no cast from " + a.dtypeName() + " to " + dtypeToString(to, p));
}

TFE_REGISTER_CUDA_KERNEL("BitExtract", 1, bitExtract);
TFE_REGISTER_CUDA_KERNEL("BitDecompose", 1, bitDecompose);
TFE_REGISTER_CUDA_KERNEL("Xor", 2, [](const Inputs& in, const Attrs&) { return bitBinary("Xor", in, Xor8{}); });
TFE_REGISTER_CUDA_KERNEL("And", 2, [](const Inputs& in, const Attrs&) { return bitBinary("And", in, And8{}); });
TFE_REGISTER_CUDA_KERNEL("Cast", 1, castTo);

}  // namespace
}  // namespace cuda
}  // namespace tfe
