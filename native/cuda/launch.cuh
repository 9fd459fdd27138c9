// Generic elementwise launchers shared by the CUDA kernel files: a unary map and a binary map
// with NumPy broadcasting. Validation and shape logic run on the host (core/broadcast.h, the same
// code as the CPU kernels); the device only sees pointers, sizes and strides.
#pragma once
#include <string>

#include "core/broadcast.h"
#include "cuda/device.h"
#include "kernels/check.h"

namespace tfe {
namespace cuda {

constexpr int kMaxRank = 8;

// A coalesced broadcast plan in a form that can be passed to a kernel by value.
struct DevicePlan {
  int rank;
  int64_t dims[kMaxRank];
  int64_t strides[2][kMaxRank];
};

inline DevicePlan toDevicePlan(const BroadcastPlan& p, const std::string& op) {
  if (p.dims.size() > static_cast<size_t>(kMaxRank))
    throw KernelError(op + ": broadcasting needs " + std::to_string(p.dims.size()) + " distinct dimensions; the CUDA backend supports 8");
  DevicePlan d{};
  d.rank = static_cast<int>(p.dims.size());
  for (int i = 0; i < d.rank; ++i) {
    d.dims[i] = p.dims[i];
    for (int k = 0; k < 2; ++k) d.strides[k][i] = p.strides[k][i];
  }
  return d;
}

template <typename TI, typename TO, typename Op>
__global__ void unaryKernel(const TI* __restrict__ x, TO* __restrict__ z, int64_t n, Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) z[i] = op(x[i]);
}

template <typename T, typename Op>
__global__ void binaryKernel(const T* __restrict__ a, const T* __restrict__ b, T* __restrict__ z, int64_t n, DevicePlan plan, Op op) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int d = plan.rank - 1; d >= 0; --d) {
      int64_t c = rem % plan.dims[d];
      rem /= plan.dims[d];
      oa += c * plan.strides[0][d];
      ob += c * plan.strides[1][d];
    }
    z[i] = op(a[oa], b[ob]);
  }
}

// out = op(x) elementwise, out of dtype outType.
template <typename TI, typename TO, typename Op>
Tensor unaryMap(const Tensor& x, DType outType, uint32_t modulus, Op op) {
  Tensor out = allocDevice(x.shape, outType, modulus);
  int64_t n = x.size();
  if (n == 0) return out;
  unaryKernel<TI, TO><<<gridFor(n), 256, 0, currentStream()>>>(devPtr<TI>(x), devPtr<TO>(out), n, op);
  TFE_CUDA_LAUNCHED();
  return out;
}

// out = op(a, b) with broadcasting; a and b share a dtype, which out keeps.
template <typename T, typename Op>
Tensor binaryBroadcast(const std::string& name, const Tensor& a, const Tensor& b, Op op) {
  requireSameDType(name, a, b);
  Shape outShape = broadcastShapes(a.shape, b.shape, name);
  Tensor out = allocDevice(outShape, a.dtype, a.modulus);
  int64_t n = out.size();
  if (n == 0) return out;
  DevicePlan plan = toDevicePlan(planBroadcast(outShape, {&a.shape, &b.shape}), name);
  binaryKernel<T><<<gridFor(n), 256, 0, currentStream()>>>(devPtr<T>(a), devPtr<T>(b), devPtr<T>(out), n, plan, op);
  TFE_CUDA_LAUNCHED();
  return out;
}

}  // namespace cuda
}  // namespace tfe
