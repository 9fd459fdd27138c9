// Portable micro-kernel: plain C++ for any CPU (the fallback of the runtime dispatch).
#include "kernels/matmul.h"

namespace tfe {
namespace {

constexpr int MR = 4, NR = 4;

void tile(int64_t kc, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t ldc, bool accumulate) {
  uint64_t c[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k, A += MR, B += NR)
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) c[i][j] += A[i] * B[j];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) C[i * ldc + j] = accumulate ? C[i * ldc + j] + c[i][j] : c[i][j];
}

void rows(int64_t m, int64_t k, int64_t n, const uint64_t* A, const uint64_t* B, uint64_t* C, int64_t j0, int64_t j1) {
  for (int64_t i = 0; i < m; ++i) {
    uint64_t* c = C + i * n;
    for (int64_t j = j0; j < j1; ++j) c[j] = 0;
    for (int64_t p = 0; p < k; ++p) {
      uint64_t a = A[i * k + p];
      const uint64_t* b = B + p * n;
      for (int64_t j = j0; j < j1; ++j) c[j] += a * b[j];
    }
  }
}

}  // namespace

const MicroKernel& microKernelGeneric() {
  static const MicroKernel mk{"generic", MR, NR, tile, rows};
  return mk;
}

}  // namespace tfe
