// CUDA fixed-point encoding between float64 and Z_2^64, bit-identical to
// native/src/kernels/fixed_point.cc: x -> round-half-even(x * 2^f) in two's complement.
//
// Bit-exactness: a double multiply is correctly rounded IEEE arithmetic on both sides (the GPU
// keeps double subnormals), and by a power of two it is exact short of overflow, which both sides
// turn into the same infinity; rint is round-half-even like the host's nearbyint in the default
// rounding mode; the int64 <-> double conversions round to nearest on both; and a lone multiply
// cannot be contracted into an FMA.
#include <charconv>
#include <cmath>
#include <sstream>
#include <string>

#include "core/registry.h"
#include "cuda/device.h"
#include "kernels/check.h"
#include "kernels/kernel_checks.h"

namespace tfe {
namespace cuda {
namespace {

constexpr unsigned kThreads = 256;

// Out-of-range values (NaN included, as the comparison is false for it) record their index in
// *bad; atomicMin keeps the first, the index the CPU reports.
__global__ void encodeKernel(const double* x, uint64_t* z, int64_t n, double scale, double limit,
                             unsigned long long* bad) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    double v = rint(x[i] * scale);
    if (!(v >= -limit && v < limit)) {
      atomicMin(bad, static_cast<unsigned long long>(i));
      continue;
    }
    z[i] = static_cast<uint64_t>(static_cast<int64_t>(v));
  }
}

__global__ void decodeKernel(const uint64_t* x, double* z, int64_t n, double inv) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    z[i] = static_cast<double>(static_cast<int64_t>(x[i])) * inv;
}

Outputs encode(const Inputs& in, const Attrs& at) {
  requireDType("EncodeFixedPoint", in[0], DType::F64);
  int f = fixedPointFracBits("EncodeFixedPoint", at);
  Tensor out = allocDevice(in[0].shape, DType::Ring64);
  int64_t n = in[0].size();
  if (n == 0) return {out};
  useOnCurrentStream(in[0]);
  cudaStream_t s = currentStream();
  Tensor bad = allocDevice({1}, DType::Ring64);
  TFE_CUDA_CHECK(cudaMemsetAsync(devPtr<uint64_t>(bad), 0xff, 8, s));
  const double* x = devPtr<double>(in[0]);
  encodeKernel<<<gridFor(n, kThreads), kThreads, 0, s>>>(x, devPtr<uint64_t>(out), n, std::ldexp(1.0, f),
                                                         std::ldexp(1.0, 63),
                                                         reinterpret_cast<unsigned long long*>(devPtr<uint64_t>(bad)));
  TFE_CUDA_LAUNCHED();
  // The one synchronisation: a NaN, infinity or out-of-range value must be refused with the CPU's
  // message before the tensor is handed out, and only the device knows whether there was one.
  // Encoding runs once per input from plaintext data (it is not on the per-gate hot path), and
  // that data has just been uploaded, so the wait costs little.
  uint64_t first = 0;
  download(bad, &first, 8, currentStreamId());
  if (first >= static_cast<uint64_t>(n)) return {out};
  int64_t i = static_cast<int64_t>(first);
  double xi = 0;  // the offending value, for the message (error path only)
  TFE_CUDA_CHECK(cudaMemcpyAsync(&xi, x + i, sizeof xi, cudaMemcpyDeviceToHost, s));
  TFE_CUDA_CHECK(cudaStreamSynchronize(s));
  std::ostringstream o;
  o << "EncodeFixedPoint: ";
  if (std::isnan(xi)) o << "NaN at index " << i << " cannot be encoded";
  else if (std::isinf(xi)) o << (xi > 0 ? "+Infinity" : "-Infinity") << " at index " << i << " cannot be encoded";
  else
    o << "value " << shortestDouble(xi) << " at index " << i << " is outside the representable range [-2^" << (63 - f) << ", 2^"
      << (63 - f) << ") for " << f << " fractional bits";
  throw KernelError(o.str());
}

Outputs decode(const Inputs& in, const Attrs& at) {
  requireDType("DecodeFixedPoint", in[0], DType::Ring64);
  int f = fixedPointFracBits("DecodeFixedPoint", at);
  Tensor out = allocDevice(in[0].shape, DType::F64);
  int64_t n = in[0].size();
  if (n == 0) return {out};
  useOnCurrentStream(in[0]);
  decodeKernel<<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(devPtr<uint64_t>(in[0]), devPtr<double>(out), n,
                                                                       std::ldexp(1.0, -f));
  TFE_CUDA_LAUNCHED();
  return {out};
}

TFE_REGISTER_CUDA_KERNEL("EncodeFixedPoint", 1, encode);
TFE_REGISTER_CUDA_KERNEL("DecodeFixedPoint", 1, decode);

}  // namespace
}  // namespace cuda
}  // namespace tfe
