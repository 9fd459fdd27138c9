// Timing for the harness's GPU benchmarks (bench_gemm.cu, cases_fss.cc): CUDA events on the
// current stream, best of a few runs after a warm-up (the first launch pays module loading).
#pragma once
#include <cuda_runtime.h>

#include "cuda/device.h"

namespace tfe {
namespace cudatest {

// Milliseconds for `fn` (which launches on the current stream), best of `reps` after one warm-up.
template <typename Fn>
double timeMs(Fn fn, int reps) {
  cudaStream_t s = cuda::currentStream();
  cudaEvent_t e0, e1;
  TFE_CUDA_CHECK(cudaEventCreate(&e0));
  TFE_CUDA_CHECK(cudaEventCreate(&e1));
  fn();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    TFE_CUDA_CHECK(cudaEventRecord(e0, s));
    fn();
    TFE_CUDA_CHECK(cudaEventRecord(e1, s));
    TFE_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0;
    TFE_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    if (ms < best) best = ms;
  }
  TFE_CUDA_CHECK(cudaEventDestroy(e0));
  TFE_CUDA_CHECK(cudaEventDestroy(e1));
  return best;
}

}  // namespace cudatest
}  // namespace tfe
