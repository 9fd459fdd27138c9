// The kernel interface: every backend (CPU now, CUDA later) registers kernels under the same
// names, and the binding dispatches by name. One function signature for all kernels.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "core/attrs.h"
#include "core/tensor.h"

namespace tfe {

using Inputs = std::vector<Tensor>;
using Outputs = std::vector<Tensor>;
using KernelFn = std::function<Outputs(const Inputs&, const Attrs&)>;

struct KernelInfo {
  KernelFn fn;
  int arity;  // expected number of inputs; -1 for variadic (concat)
};

// Host kernels read and write host memory; CUDA kernels take and return device tensors. Both
// tables can be linked into one binary (the CUDA module keeps the host kernels for the few
// kernels it has no device version of, and the test harness compares the two).
enum class KernelDevice { Host, Cuda };

void registerKernel(const std::string& name, int arity, KernelFn fn, KernelDevice device = KernelDevice::Host);
const KernelInfo* findKernel(const std::string& name, KernelDevice device = KernelDevice::Host);
std::vector<std::string> kernelNames(KernelDevice device = KernelDevice::Host);

struct KernelRegistrar {
  KernelRegistrar(const char* name, int arity, KernelFn fn, KernelDevice device = KernelDevice::Host) {
    registerKernel(name, arity, std::move(fn), device);
  }
};

}  // namespace tfe

#define TFE_CONCAT_(a, b) a##b
#define TFE_CONCAT(a, b) TFE_CONCAT_(a, b)
// Registers a kernel at static-initialisation time.
#define TFE_REGISTER_KERNEL(name, arity, fn) \
  static ::tfe::KernelRegistrar TFE_CONCAT(tfe_kernel_reg_, __LINE__)(name, arity, fn)
#define TFE_REGISTER_CUDA_KERNEL(name, arity, fn) \
  static ::tfe::KernelRegistrar TFE_CONCAT(tfe_cuda_kernel_reg_, __LINE__)(name, arity, fn, ::tfe::KernelDevice::Cuda)
