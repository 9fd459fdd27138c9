// CUDA versions of SecureNN's per-element kernels, bit-identical to the CPU ones:
// OddRingAdd/OddRingSub (native/src/kernels/odd_ring.cc), PrivateCompareShares and
// AnyZeroLastAxis (securenn.cc), PrefixSumReverseExclusive (field.cc). Checks and messages mirror
// the CPU kernels in the same order.
#include <string>

#include "core/broadcast.h"
#include "core/registry.h"
#include "cuda/device.h"
#include "kernels/check.h"
#include "kernels/kernel_checks.h"

namespace tfe {
namespace cuda {
namespace {

constexpr unsigned kThreads = 256;

// ---- Odd ring Z_(2^64 - 1) ------------------------------------------------------------------

constexpr uint64_t M = ~uint64_t(0);
__device__ __forceinline__ uint64_t norm(uint64_t a) { return a == M ? 0 : a; }
__device__ __forceinline__ uint64_t oddAdd(uint64_t a, uint64_t b) {
  a = norm(a);
  b = norm(b);
  uint64_t s = a + b;
  if (s < a) s += 1;  // 2^64 = 1 (mod 2^64 - 1)
  return s == M ? 0 : s;
}
__device__ __forceinline__ uint64_t oddNeg(uint64_t a) {
  a = norm(a);
  return a == 0 ? 0 : M - a;
}

// The host's coalesced broadcast plan, by value (the kernel decomposes each output index).
constexpr int kMaxRank = 8;
struct Broadcast2 {
  int rank;
  int64_t dims[kMaxRank], sa[kMaxRank], sb[kMaxRank];
};

template <bool Sub>
__global__ void oddRingKernel(const uint64_t* a, const uint64_t* b, uint64_t* z, int64_t n, Broadcast2 bc) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t rem = i, oa = 0, ob = 0;
    for (int d = bc.rank - 1; d > 0; --d) {
      int64_t c = rem % bc.dims[d];
      rem /= bc.dims[d];
      oa += c * bc.sa[d];
      ob += c * bc.sb[d];
    }
    oa += rem * bc.sa[0];
    ob += rem * bc.sb[0];
    z[i] = Sub ? oddAdd(a[oa], oddNeg(b[ob])) : oddAdd(a[oa], b[ob]);
  }
}

template <bool Sub>
Outputs oddRing(const std::string& name, const Inputs& in) {
  const Tensor &a = in[0], &b = in[1];
  requireDType(name, a, DType::Ring64, "first input");
  requireDType(name, b, DType::Ring64, "second input");
  requireSameDType(name, a, b);
  Shape outShape = broadcastShapes(a.shape, b.shape, name);
  Tensor out = allocDevice(outShape, DType::Ring64);
  int64_t n = out.size();
  if (n == 0) return {out};
  BroadcastPlan plan = planBroadcast(outShape, {&a.shape, &b.shape});
  if (plan.dims.size() > static_cast<size_t>(kMaxRank))
    throw KernelError(name + ": broadcasting " + shapeStr(a.shape) + " with " + shapeStr(b.shape) + " needs " +
                      std::to_string(plan.dims.size()) + " dimensions after merging; the CUDA backend supports 8");
  Broadcast2 bc{};
  bc.rank = static_cast<int>(plan.dims.size());
  for (int d = 0; d < bc.rank; ++d) {
    bc.dims[d] = plan.dims[d];
    bc.sa[d] = plan.strides[0][d];
    bc.sb[d] = plan.strides[1][d];
  }
  useOnCurrentStream(a);
  useOnCurrentStream(b);
  oddRingKernel<Sub><<<gridFor(n, kThreads), kThreads, 0, currentStream()>>>(devPtr<uint64_t>(a), devPtr<uint64_t>(b),
                                                                             devPtr<uint64_t>(out), n, bc);
  TFE_CUDA_LAUNCHED();
  return {out};
}

// ---- PrivateCompare -------------------------------------------------------------------------

constexpr int kBits = 64;
constexpr unsigned kFull = 0xffffffffu;

// ((v % p) + p) % p as on the CPU; |v| stays below 2^15 here, so int32 gives the same residue.
__device__ __forceinline__ uint32_t modP(int32_t v, int32_t p) { return static_cast<uint32_t>(((v % p) + p) % p); }

// One warp per element: lane l owns bits l and l + 32. The CPU's running sum of w_k over the
// more significant bits k > i becomes a suffix sum across lanes (shuffles), the same integers.
__global__ void privateCompareKernel(const uint8_t* xs, const uint64_t* rs, const uint8_t* bs, const uint8_t* ss,
                                     const uint8_t* us, const uint64_t* ps, int64_t n, int32_t p, int32_t j,
                                     uint8_t* d, unsigned long long* badPerm) {
  const unsigned lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t e = (blockIdx.x * int64_t(blockDim.x) + threadIdx.x) / 32; e < n; e += warps) {
    // The element's perm must be a permutation: every entry below 64 and, 64 entries in all, every
    // position hit (so none twice). A repeated position left another output byte unwritten, and
    // the output goes to server2: it carried whatever the allocator's block held before. Checked
    // by the whole warp before any write; an element that fails writes nothing.
    const uint64_t to[2] = {ps[e * kBits + lane], ps[e * kBits + lane + 32]};
    const bool inRange = to[0] < kBits && to[1] < kBits;
    unsigned long long hit = inRange ? ((1ull << to[0]) | (1ull << to[1])) : 0ull;
    for (int off = 16; off > 0; off >>= 1) hit |= __shfl_xor_sync(kFull, hit, off);
    if (!__all_sync(kFull, inRange) || hit != ~0ull) {
      if (lane == 0) *badPerm = 1;  // every writer stores the same value
      continue;
    }
    const uint64_t rv = rs[e];
    const bool b = bs[e] != 0, isMax = rv == ~uint64_t(0);
    const int64_t base = e * kBits;
    uint32_t c[2];  // c for bits lane and lane + 32
    if (b && isMax) {
      for (int h = 0; h < 2; ++h) {
        int i = lane + 32 * h;
        int32_t u = us[base + i];
        c[h] = j == 0 ? modP(u + (i > 0 ? 1 : 0), p) : modP(-u, p);
      }
    } else {
      const uint64_t cmp = b ? rv + 1 : rv;  // t = r + 1 when beta = 1
      int32_t w[2], core[2];
      for (int h = 0; h < 2; ++h) {
        int i = lane + 32 * h;
        int32_t xi = xs[base + i], bit = static_cast<int32_t>((cmp >> i) & 1);
        core[h] = b ? (xi - j * bit) : (j * bit - xi);
        w[h] = xi + j * bit - 2 * bit * xi;
      }
      // Inclusive suffix sums over lanes, then exclusive by subtracting the lane's own w.
      int32_t lo = w[0], hi = w[1];
      for (int off = 1; off < 32; off <<= 1) {
        int32_t l2 = __shfl_down_sync(kFull, lo, off), h2 = __shfl_down_sync(kFull, hi, off);
        if (lane + off < 32) lo += l2, hi += h2;
      }
      const int32_t highTotal = __shfl_sync(kFull, hi, 0);
      c[0] = modP(core[0] + j + (lo - w[0]) + highTotal, p);
      c[1] = modP(core[1] + j + (hi - w[1]), p);
    }
    for (int h = 0; h < 2; ++h) {
      int i = lane + 32 * h;
      d[base + to[h]] = static_cast<uint8_t>((c[h] * ss[base + i]) % static_cast<uint32_t>(p));
    }
  }
}

Outputs privateCompareShares(const Inputs& in, const Attrs& at) {
  const Tensor &x = in[0], &r = in[1], &beta = in[2], &s = in[3], &u = in[4], &perm = in[5];
  int64_t j;
  const int64_t n = checkPrivateCompareShares(in, at, &j);
  const uint32_t p = x.modulus;
  Tensor out = allocDevice(x.shape, DType::Field, p);
  if (n == 0) return {out};
  for (const Tensor* t : {&x, &r, &beta, &s, &u, &perm}) useOnCurrentStream(*t);
  cudaStream_t st = currentStream();
  Tensor bad = allocDevice({1}, DType::Ring64);
  TFE_CUDA_CHECK(cudaMemsetAsync(devPtr<uint64_t>(bad), 0, 8, st));
  const unsigned warpsPerBlock = kThreads / 32;
  privateCompareKernel<<<gridFor(n, warpsPerBlock), kThreads, 0, st>>>(
      devPtr<uint8_t>(x), devPtr<uint64_t>(r), devPtr<uint8_t>(beta), devPtr<uint8_t>(s), devPtr<uint8_t>(u),
      devPtr<uint64_t>(perm), n, static_cast<int32_t>(p), static_cast<int32_t>(j), devPtr<uint8_t>(out),
      reinterpret_cast<unsigned long long*>(devPtr<uint64_t>(bad)));
  TFE_CUDA_LAUNCHED();
  // The one synchronisation: the CPU kernel refuses a perm that is not a permutation (an entry
  // outside [0, 64) or a repeated one), and the verdict lives on the device. The output of a
  // refused call never leaves this function: it is freed with the exception.
  uint64_t badPerm = 0;
  download(bad, &badPerm, 8, currentStreamId());
  if (badPerm) throw KernelError("PrivateCompareShares: perm is not a permutation of 64 positions");
  return {out};
}

// ---- Row kernels over the last axis ---------------------------------------------------------

__global__ void anyZeroKernel(const uint8_t* x, int64_t rows, int64_t len, uint8_t* z) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    uint8_t any = 0;
    for (int64_t i = 0; i < len; ++i) any |= x[r * len + i] == 0;
    z[r] = any;
  }
}

Outputs anyZeroLastAxis(const Inputs& in, const Attrs&) {
  const Tensor& a = in[0];
  if (a.dtype != DType::Field && a.dtype != DType::Bit) throw KernelError("AnyZeroLastAxis: dtype " + a.dtypeName() + " is not supported");
  if (a.rank() < 1) throw KernelError("AnyZeroLastAxis: input must have rank >= 1");
  Shape outShape(a.shape.begin(), a.shape.end() - 1);
  Tensor out = allocDevice(outShape, DType::Bit);
  const int64_t len = a.shape.back(), rows = out.size();
  if (rows == 0) return {out};
  useOnCurrentStream(a);
  anyZeroKernel<<<gridFor(rows, kThreads), kThreads, 0, currentStream()>>>(devPtr<uint8_t>(a), rows, len, devPtr<uint8_t>(out));
  TFE_CUDA_LAUNCHED();
  return {out};
}

// out[..., i] = sum_{k > i} x[..., k] (mod p for z<p>), one thread per row as on the CPU.
template <typename T>
__global__ void prefixSumReverseKernel(const T* x, int64_t rows, int64_t len, unsigned p, T* z) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < rows; r += int64_t(gridDim.x) * blockDim.x) {
    T acc = 0;
    for (int64_t i = len; i-- > 0;) {
      z[r * len + i] = acc;
      if constexpr (sizeof(T) == 1) acc = static_cast<T>((unsigned(acc) + x[r * len + i]) % p);
      else acc += x[r * len + i];
    }
  }
}

Outputs prefixSumReverseExclusive(const Inputs& in, const Attrs&) {
  const Tensor& a = in[0];
  if (a.dtype != DType::Field && a.dtype != DType::Ring64)
    throw KernelError("PrefixSumReverseExclusive: dtype " + a.dtypeName() + " is not supported (z<p> or ring64)");
  if (a.rank() < 1) throw KernelError("PrefixSumReverseExclusive: input must have rank >= 1, got shape []");
  Tensor out = allocDevice(a.shape, a.dtype, a.modulus);
  int64_t len = a.shape.back();
  int64_t rows = len == 0 ? 0 : a.size() / len;
  if (rows == 0) return {out};
  useOnCurrentStream(a);
  if (a.dtype == DType::Field)
    prefixSumReverseKernel<uint8_t><<<gridFor(rows, kThreads), kThreads, 0, currentStream()>>>(
        devPtr<uint8_t>(a), rows, len, a.modulus, devPtr<uint8_t>(out));
  else
    prefixSumReverseKernel<uint64_t><<<gridFor(rows, kThreads), kThreads, 0, currentStream()>>>(
        devPtr<uint64_t>(a), rows, len, 0, devPtr<uint64_t>(out));
  TFE_CUDA_LAUNCHED();
  return {out};
}

TFE_REGISTER_CUDA_KERNEL("OddRingAdd", 2, [](const Inputs& in, const Attrs&) { return oddRing<false>("OddRingAdd", in); });
TFE_REGISTER_CUDA_KERNEL("OddRingSub", 2, [](const Inputs& in, const Attrs&) { return oddRing<true>("OddRingSub", in); });
TFE_REGISTER_CUDA_KERNEL("PrivateCompareShares", 6, privateCompareShares);
TFE_REGISTER_CUDA_KERNEL("AnyZeroLastAxis", 1, anyZeroLastAxis);
TFE_REGISTER_CUDA_KERNEL("PrefixSumReverseExclusive", 1, prefixSumReverseExclusive);

}  // namespace
}  // namespace cuda
}  // namespace tfe
