// Harness case for the allocator's cross-stream rules (device.cu: useOnCurrentStream, the
// deferred free of a block other streams read, reapPending): a tensor made on one stream, read
// by a slow kernel on another, freed while that kernel may still run, its size allocated again
// and overwritten on the first stream, and the reader's result downloaded on a third. The GPU
// races there would live; the Node suites that exercise them cannot run on the device machine.
#include <cstdio>
#include <cstring>

#include "binding/backend.h"
#include "core/registry.h"
#include "cuda/device.h"
#include "cuda/test/harness.h"

namespace tfe {
namespace cudatest {
namespace {

Tensor onStream(const Tensor& host, int stream) {
  Tensor d = newTensor(host.shape, host.dtype, host.modulus, stream);
  copyFromHost(d, host.storage->data(), host.storage->bytes(), stream);
  return d;
}

}  // namespace

TFE_CUDA_CASE(cross_stream_free_and_reuse) {
  const Shape s = {1536, 1536};  // a matmul slow enough to still run when its inputs are freed
  for (int round = 0; round < 3; ++round) {
    Tensor ha = randomHost(s, DType::Ring64), hb = randomHost(s, DType::Ring64);
    Tensor want = findKernel("MatMul", KernelDevice::Host)->fn({ha, hb}, Attrs())[0];
    Tensor got;
    {
      Tensor da = onStream(ha, 1), db = onStream(hb, 1);
      cuda::StreamScope reader(2);
      got = resolveKernel("MatMul")->fn({da, db}, Attrs())[0];
    }  // da and db freed here, stream 2 perhaps still reading them
    // Their size again on stream 1, overwritten at once: must not be the blocks stream 2 reads.
    for (int i = 0; i < 4; ++i) onStream(randomHost(s, DType::Ring64), 1);
    Tensor h = allocTensor(got.shape, got.dtype, got.modulus);
    copyToHost(got, h.storage->data(), h.storage->bytes(), 3);
    if (h.shape != want.shape || std::memcmp(h.storage->data(), want.storage->data(), want.storage->bytes()) != 0) {
      std::printf("  cross-stream: round %d: the product read on stream 2 differs from the CPU's\n", round);
      return false;
    }
  }
  return true;
}

}  // namespace cudatest
}  // namespace tfe
