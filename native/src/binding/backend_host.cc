// The CPU module's backend: host kernels on host memory, transfers are memcpy.
#include <cstring>

#include "binding/backend.h"
#include "core/cpu_features.h"
#include "core/thread_pool.h"
#include "kernels/conv_direct.h"
#include "kernels/matmul.h"
#include "prg/aes128.h"

namespace tfe {

const char* backendName() { return "cpu"; }

const KernelInfo* resolveKernel(const std::string& name) { return findKernel(name); }
std::vector<std::string> resolvedKernelNames() { return kernelNames(); }

Tensor newTensor(const Shape& shape, DType dtype, uint32_t modulus, int) { return allocTensor(shape, dtype, modulus); }

void copyFromHost(const Tensor& t, const void* src, size_t n, int) {
  if (n) std::memcpy(t.storage->data(), src, n);
}

void copyToHost(const Tensor& t, void* dst, size_t n, int) {
  if (n) std::memcpy(dst, t.storage->data(), n);
}

// Host tensors are immutable and already in memory: holding the tensor is all the start needs.
struct PendingDownload {
  Tensor t;
  size_t n;
};

std::shared_ptr<PendingDownload> startDownload(const Tensor& t, size_t n, int) {
  return std::make_shared<PendingDownload>(PendingDownload{t, n});
}

void finishDownload(PendingDownload& d, void* dst) { copyToHost(d.t, dst, d.n, 0); }

std::vector<std::pair<std::string, InfoValue>> backendInfo() {
  std::vector<std::pair<std::string, InfoValue>> info{
      {"cpuFeatures", std::string(cpuFeatureString())},
      {"matmulKernel", std::string(selectMicroKernel("auto").name)},
      {"matmulRates", autoMicroKernelRates()},
      {"aes", std::string(aesImplName(AesImpl::Auto))},
      {"threads", static_cast<double>(numThreads())},
  };
  if (cpuFeatures().avx512) info.push_back({"convDirectRates", convDirectRates()});
  return info;
}

}  // namespace tfe
