// The CUDA ring GEMM (C = A B mod 2^64) behind MatMul and Conv2D, with its three candidates:
//   uint64  tiled uint64 multiply-add on the CUDA cores             (matmul_uint64.cu)
//   fp64    four 16-bit limbs, 10 limb-pair products on the fp64 units (matmul_fp64.cu)
//   int8    eight 8-bit limbs, 36 limb-pair products on the int8 tensor cores (matmul_int8.cu)
// All are bit-identical to the CPU kernel; they differ only in speed. Everything runs
// asynchronously on currentStream(); callers make the inputs safe to read there first
// (useOnCurrentStream).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

namespace tfe {
namespace cuda {

enum class GemmImpl { Auto, Uint64, Fp64, Int8 };

// Parses the 'impl' attribute; unknown names throw a KernelError (prefixed with op) listing the
// valid ones.
GemmImpl parseGemmImpl(const std::string& op, const std::string& name);
const char* gemmImplName(GemmImpl impl);

// Row-major C[b] = A[b] (m x k) * B[b] (k x n) for b < batch. strideA / strideB are in elements
// and 0 broadcasts one matrix over the batch; C is dense (stride m * n).
struct GemmArgs {
  const uint64_t* a;
  const uint64_t* b;
  uint64_t* c;
  int64_t m, k, n, batch, strideA, strideB;
};

// What 'auto' runs for this shape on the current device (see the policy in matmul.cu).
GemmImpl chooseGemmImpl(int64_t m, int64_t k, int64_t n, int64_t batch);

// Validates nothing about tensors (the kernels did); throws a KernelError (prefixed with op) when
// the device cannot run the requested candidate.
void ringGemm(const std::string& op, const GemmArgs& g, GemmImpl impl);

// The candidates, for ringGemm and the benchmark: m, n, k, batch > 0.
void gemmUint64(const GemmArgs& g, cudaStream_t s);
void gemmFp64(const GemmArgs& g, cudaStream_t s);
void gemmInt8(const GemmArgs& g, cudaStream_t s);  // scratch limb planes come from allocDevice

}  // namespace cuda
}  // namespace tfe
