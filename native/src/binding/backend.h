// What the binding needs from the backend it is linked with. Each .node links exactly one
// implementation: backend_host.cc (the CPU module) or native/cuda/backend_cuda.cc (the CUDA
// module). The binding itself never touches tensor memory directly, so it is the same code for
// both.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/registry.h"
#include "core/tensor.h"

namespace tfe {

// The attribute that carries a kernel call's stream (a small integer, one per party in local
// mode). Host kernels ignore it.
constexpr const char* kStreamAttr = "__stream";

const char* backendName();
// The kernel this module runs under `name` (wrapped as needed), or nullptr.
const KernelInfo* resolveKernel(const std::string& name);
std::vector<std::string> resolvedKernelNames();

// A new, uninitialised tensor in this backend's memory.
Tensor newTensor(const Shape& shape, DType dtype, uint32_t modulus, int stream);
// Copies n bytes of host memory into t, and t out to host memory (waiting for t to be ready).
void copyFromHost(const Tensor& t, const void* src, size_t n, int stream);
void copyToHost(const Tensor& t, void* dst, size_t n, int stream);

// A download split in two so that waiting happens off the JS thread: start queues the copy (JS
// thread), finish waits for it and writes dst (a worker thread). While one party's value is in
// flight, the event loop keeps issuing the other parties' kernels and messages.
struct PendingDownload;
std::shared_ptr<PendingDownload> startDownload(const Tensor& t, size_t n, int stream);
void finishDownload(PendingDownload& d, void* dst);

using InfoValue = std::variant<std::string, double, bool>;
std::vector<std::pair<std::string, InfoValue>> backendInfo();

}  // namespace tfe
