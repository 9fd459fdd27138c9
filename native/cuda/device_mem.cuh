// The CUDA memory policy for the kernels written once over a policy (kernels/layout_impl.h,
// kernels/reduce_impl.h): allocation, N-d strided copy, fill, gather and row sums on the
// current stream.
#pragma once
#include <vector>

#include "core/strided.h"
#include "cuda/launch.cuh"

namespace tfe {
namespace cuda {

struct CopyPlan {
  int rank;
  int64_t shape[kMaxRank];
  int64_t src[kMaxRank], dst[kMaxRank];
};

template <typename T>
__global__ void stridedCopyKernel(const T* __restrict__ src, T* __restrict__ dst, int64_t n, CopyPlan p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = i, so = 0, d = 0;
    for (int k = p.rank - 1; k >= 0; --k) {
      int64_t c = rem % p.shape[k];
      rem /= p.shape[k];
      so += c * p.src[k];
      d += c * p.dst[k];
    }
    dst[d] = src[so];
  }
}

template <typename T>
__global__ void fillKernel(T* __restrict__ z, int64_t n, T v) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) z[i] = v;
}

template <typename T>
__global__ void gatherKernel(const T* __restrict__ a, T* __restrict__ z, const int64_t* __restrict__ idx, int64_t n,
                             int64_t count, int64_t dim, int64_t inner) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t e = i % inner, k = i / inner, o = k / count, j = k % count;
    z[i] = a[(o * dim + idx[j]) * inner + e];
  }
}

// One block per row: a strided partial sum per thread, then a shared-memory tree.
template <typename T>
__global__ void rowSumKernel(const T* __restrict__ x, T* __restrict__ z, int64_t rows, int64_t rowLen, uint64_t modulus) {
  __shared__ uint64_t part[256];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    uint64_t acc = 0;
    for (int64_t j = threadIdx.x; j < rowLen; j += blockDim.x) acc += x[r * rowLen + j];
    part[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
      __syncthreads();
    }
    // Ring sums wrap mod 2^64; byte sums stay below 2^64 (< 2^56 values < 256) until reduced.
    if (threadIdx.x == 0) z[r] = modulus ? static_cast<T>(part[0] % modulus) : static_cast<T>(part[0]);
    __syncthreads();
  }
}

struct DeviceMem {
  static Tensor alloc(const Shape& s, DType d, uint32_t m) { return allocDevice(s, d, m); }

  static void stridedCopy(const Shape& shape, size_t es, const StridedView& src, const StridedView& dst) {
    int64_t n = numel(shape);
    if (n == 0) return;
    // Dims of size 1 carry no offset; dropping them keeps most copies within kMaxRank.
    CopyPlan p{};
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] == 1) continue;
      if (p.rank == kMaxRank) throw KernelError("strided copy of shape " + shapeStr(shape) + ": the CUDA backend supports 8 dimensions of size > 1");
      p.shape[p.rank] = shape[i];
      p.src[p.rank] = src.strides[i];
      p.dst[p.rank] = dst.strides[i];
      ++p.rank;
    }
    if (es == 8)
      stridedCopyKernel<uint64_t><<<gridFor(n), 256, 0, currentStream()>>>(static_cast<const uint64_t*>(src.base), static_cast<uint64_t*>(dst.base), n, p);
    else
      stridedCopyKernel<uint8_t><<<gridFor(n), 256, 0, currentStream()>>>(static_cast<const uint8_t*>(src.base), static_cast<uint8_t*>(dst.base), n, p);
    TFE_CUDA_LAUNCHED();
  }

  static void fill64(Tensor& t, uint64_t v) {
    if (t.size() == 0) return;
    fillKernel<uint64_t><<<gridFor(t.size()), 256, 0, currentStream()>>>(devPtr<uint64_t>(t), t.size(), v);
    TFE_CUDA_LAUNCHED();
  }
  static void fill8(Tensor& t, uint8_t v) {
    if (t.size() == 0) return;
    fillKernel<uint8_t><<<gridFor(t.size()), 256, 0, currentStream()>>>(devPtr<uint8_t>(t), t.size(), v);
    TFE_CUDA_LAUNCHED();
  }

  static void gatherRows(const Tensor& a, Tensor& out, int64_t outer, int64_t dim, int64_t inner, const std::vector<int64_t>& idx) {
    int64_t n = out.size();
    if (n == 0) return;
    Tensor dIdx = allocDevice({static_cast<int64_t>(idx.size())}, DType::Ring64);
    upload(dIdx, idx.data(), idx.size() * sizeof(int64_t), currentStreamId());
    const int64_t* ip = devPtr<int64_t>(dIdx);
    int64_t count = static_cast<int64_t>(idx.size());
    if (elemSize(a.dtype) == 8)
      gatherKernel<uint64_t><<<gridFor(n), 256, 0, currentStream()>>>(devPtr<uint64_t>(a), devPtr<uint64_t>(out), ip, n, count, dim, inner);
    else
      gatherKernel<uint8_t><<<gridFor(n), 256, 0, currentStream()>>>(devPtr<uint8_t>(a), devPtr<uint8_t>(out), ip, n, count, dim, inner);
    TFE_CUDA_LAUNCHED();
  }

  static void rowSums(const Tensor& src, Tensor& out, int64_t rows, int64_t rowLen) {
    if (rows == 0) return;
    unsigned grid = static_cast<unsigned>(rows < (int64_t(1) << 16) ? rows : (int64_t(1) << 16));
    if (src.dtype == DType::Ring64)
      rowSumKernel<uint64_t><<<grid, 256, 0, currentStream()>>>(devPtr<uint64_t>(src), devPtr<uint64_t>(out), rows, rowLen, 0);
    else
      rowSumKernel<uint8_t><<<grid, 256, 0, currentStream()>>>(devPtr<uint8_t>(src), devPtr<uint8_t>(out), rows, rowLen,
                                                              src.dtype == DType::Bit ? 2 : src.modulus);
    TFE_CUDA_LAUNCHED();
  }
};

}  // namespace cuda
}  // namespace tfe
