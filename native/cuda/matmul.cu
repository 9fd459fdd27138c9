// CUDA MatMul, mirroring kernels/matmul.cc: [.., m, k] x [.., k, n] -> [.., m, n] over Z_2^64, with
// the same shape rules (batch dims equal, or one side a plain matrix broadcast over the other's
// batch) and error messages. The arithmetic is the ring GEMM of matmul.h; the 'impl' attribute
// picks its candidate: 'auto' (default), 'uint64', 'fp64' or 'int8'.
#include "cuda/matmul.h"

#include "core/registry.h"
#include "cuda/device.h"
#include "kernels/check.h"
#include "kernels/kernel_checks.h"

namespace tfe {
namespace cuda {

GemmImpl parseGemmImpl(const std::string& op, const std::string& name) {
  if (name == "auto") return GemmImpl::Auto;
  if (name == "uint64") return GemmImpl::Uint64;
  if (name == "fp64") return GemmImpl::Fp64;
  if (name == "int8") return GemmImpl::Int8;
  throw KernelError(op + ": unknown impl '" + name + "' (auto, uint64, fp64 or int8)");
}

const char* gemmImplName(GemmImpl impl) {
  switch (impl) {
    case GemmImpl::Uint64: return "uint64";
    case GemmImpl::Fp64: return "fp64";
    case GemmImpl::Int8: return "int8";
    default: return "auto";
  }
}

// The 'auto' policy. All three candidates are exact, so this is only about speed, and it is an
// estimate from datasheet rates, to be confirmed with `tfe_cuda_test --bench` on each GPU:
//  - uint64 costs ~3 INT32 IMADs per ring multiply-add; every arch since Volta issues 64 IMADs
//    per clock per SM: ~21 ring MACs / clock / SM.
//  - int8 costs 36 u8 MACs per ring MAC. Dense int8 tensor rates per SM and clock: 1024 on
//    sm_75 / sm_86 / sm_89 (Turing, consumer Ampere and Ada) -> ~28 ring MACs, only 1.3x uint64
//    on paper, which the limb split, the fold and a WMMA kernel short of peak can eat; 2048 on
//    sm_80 (A100) -> ~57 (2.7x); 4096 on sm_90 (H100; mma.sync reaches a good part of it) ->
//    up to ~114 (5x). So int8 on the data-centre parts (8.0, 9.x, and later majors, whose tensor
//    cores only grew), uint64 elsewhere.
//  - fp64 costs 10 fp64 FMAs per ring MAC. Even H100's fp64 tensor cores (~140 FMA / clock / SM)
//    give only ~14 ring MACs per clock per SM, below uint64; consumer GPUs run fp64 at 1/64
//    rate. Never the 'auto' choice; kept as a candidate to measure.
//  - Small products go to uint64 regardless: int8 works in 32 x 64 tiles with 16-deep steps and
//    pays a split pass over both inputs, which small or thin shapes do not amortise.
GemmImpl chooseGemmImpl(int64_t m, int64_t k, int64_t n, int64_t batch) {
  const DeviceStatus& st = deviceStatus();
  bool bigTensorCores = (st.computeMajor == 8 && st.computeMinor == 0) || st.computeMajor >= 9;
  double macs = double(m) * double(k) * double(n) * double(batch);
  bool bigEnough = m >= 32 && n >= 32 && k >= 64 && macs >= double(int64_t(1) << 24);
  return bigTensorCores && bigEnough ? GemmImpl::Int8 : GemmImpl::Uint64;
}

void ringGemm(const std::string& op, const GemmArgs& g, GemmImpl impl) {
  if (g.m == 0 || g.n == 0 || g.batch == 0) return;
  cudaStream_t s = currentStream();
  if (g.k == 0) {  // an empty sum: zeros, as the CPU writes
    TFE_CUDA_CHECK(cudaMemsetAsync(g.c, 0, static_cast<size_t>(g.batch * g.m * g.n) * sizeof(uint64_t), s));
    return;
  }
  if (impl == GemmImpl::Auto) impl = chooseGemmImpl(g.m, g.k, g.n, g.batch);
  switch (impl) {
    case GemmImpl::Int8: {
      const DeviceStatus& st = deviceStatus();
      if (st.computeMajor * 10 + st.computeMinor < 75)
        throw KernelError(op + ": impl 'int8' needs integer tensor cores (compute capability 7.5+); this device has " +
                          std::to_string(st.computeMajor) + "." + std::to_string(st.computeMinor));
      gemmInt8(g, s);
      return;
    }
    case GemmImpl::Fp64: gemmFp64(g, s); return;
    default: gemmUint64(g, s); return;
  }
}

namespace {

Outputs matmul(const Inputs& in, const Attrs& at) {
  const Tensor &a = in[0], &b = in[1];
  MatMulPlan p = planMatMul(a, b);
  GemmImpl impl = parseGemmImpl("MatMul", at.getString("impl", "auto"));
  Tensor out = allocDevice(p.out, DType::Ring64);
  useOnCurrentStream(a);
  useOnCurrentStream(b);
  GemmArgs g{devPtr<uint64_t>(a), devPtr<uint64_t>(b), devPtr<uint64_t>(out), p.m, p.k, p.n, p.batch, p.strideA, p.strideB};
  ringGemm("MatMul", g, impl);
  return {out};
}

TFE_REGISTER_CUDA_KERNEL("MatMul", 2, matmul);

}  // namespace
}  // namespace cuda
}  // namespace tfe
