// The CUDA module's backend (see binding/backend.h): kernels run on the calling party's stream,
// tensors live in device memory, transfers go through pinned staging. A kernel with no device
// version runs on the host between a download and an upload; info() lists those, so nothing is
// silently slow.
#include <map>
#include <memory>
#include <mutex>

#include "binding/backend.h"
#include "core/host_allocator.h"
#include "cuda/device.h"

namespace tfe {

namespace {

int streamOf(const Attrs& at) {
  int64_t s = at.getInt(kStreamAttr, 0);
  if (s < 0 || s >= cuda::kMaxStreams) throw KernelError("stream " + std::to_string(s) + " is outside [0, 64)");
  return static_cast<int>(s);
}

Outputs runOnDevice(const KernelInfo* k, const Inputs& in, const Attrs& at) {
  cuda::requireDevice();
  cuda::StreamScope scope(streamOf(at));
  for (const Tensor& t : in) cuda::useOnCurrentStream(t);
  return k->fn(in, at);
}

Outputs runOnHost(const KernelInfo* k, const Inputs& in, const Attrs& at) {
  cuda::requireDevice();
  int s = streamOf(at);
  Inputs host;
  for (const Tensor& t : in) {
    Tensor h = allocTensor(t.shape, t.dtype, t.modulus);
    cuda::download(t, h.storage->data(), h.storage->bytes(), s);
    host.push_back(std::move(h));
  }
  Outputs outs = k->fn(host, at);
  cuda::StreamScope scope(s);
  for (Tensor& o : outs) {
    Tensor d = cuda::allocDevice(o.shape, o.dtype, o.modulus);
    cuda::upload(d, o.storage->data(), o.storage->bytes(), s);
    o = std::move(d);
  }
  return outs;
}

struct Resolved {
  std::mutex m;
  std::map<std::string, std::unique_ptr<KernelInfo>> kernels;
};

Resolved& resolved() {
  static Resolved* r = new Resolved();
  return *r;
}

}  // namespace

const char* backendName() { return "cuda"; }

const KernelInfo* resolveKernel(const std::string& name) {
  Resolved& r = resolved();
  std::lock_guard<std::mutex> g(r.m);
  auto it = r.kernels.find(name);
  if (it != r.kernels.end()) return it->second.get();
  const KernelInfo* dev = findKernel(name, KernelDevice::Cuda);
  const KernelInfo* host = findKernel(name, KernelDevice::Host);
  if (!dev && !host) return nullptr;
  auto k = std::make_unique<KernelInfo>();
  if (dev) {
    k->arity = dev->arity;
    k->fn = [dev](const Inputs& in, const Attrs& at) { return runOnDevice(dev, in, at); };
  } else {
    k->arity = host->arity;
    k->fn = [host](const Inputs& in, const Attrs& at) { return runOnHost(host, in, at); };
  }
  const KernelInfo* p = k.get();
  r.kernels[name] = std::move(k);
  return p;
}

std::vector<std::string> resolvedKernelNames() {
  std::vector<std::string> names = kernelNames(KernelDevice::Cuda);
  for (const std::string& h : kernelNames(KernelDevice::Host))
    if (!findKernel(h, KernelDevice::Cuda)) names.push_back(h);
  return names;
}

Tensor newTensor(const Shape& shape, DType dtype, uint32_t modulus, int stream) {
  cuda::StreamScope scope(stream);
  return cuda::allocDevice(shape, dtype, modulus);
}

void copyFromHost(const Tensor& t, const void* src, size_t n, int stream) { cuda::upload(t, src, n, stream); }
void copyToHost(const Tensor& t, void* dst, size_t n, int stream) { cuda::download(t, dst, n, stream); }

struct PendingDownload {
  std::unique_ptr<cuda::Download> d;
};

std::shared_ptr<PendingDownload> startDownload(const Tensor& t, size_t n, int stream) {
  return std::make_shared<PendingDownload>(PendingDownload{cuda::startDownload(t, n, stream)});
}

void finishDownload(PendingDownload& p, void* dst) { cuda::finishDownload(*p.d, dst); }

std::vector<std::pair<std::string, InfoValue>> backendInfo() {
  const cuda::DeviceStatus& s = cuda::deviceStatus();
  auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
  std::string fallback;
  for (const std::string& h : kernelNames(KernelDevice::Host))
    if (!findKernel(h, KernelDevice::Cuda)) fallback += (fallback.empty() ? "" : ",") + h;
  std::vector<std::pair<std::string, InfoValue>> out = {
      {"deviceAvailable", s.available},
      {"cudaRuntime", version(s.runtimeVersion)},
      {"cudaDriver", s.driverVersion ? version(s.driverVersion) : std::string("none")},
#ifdef TFE_CUDA_ARCHS
      {"cudaArchitectures", std::string(TFE_CUDA_ARCHS)},
#endif
      {"hostFallbackKernels", fallback},
  };
  if (!s.available) {
    out.push_back({"unavailableReason", s.reason});
    return out;
  }
  cuda::AllocatorStats a = cuda::allocatorStats();
  out.push_back({"deviceName", s.name});
  out.push_back({"deviceMemory", static_cast<double>(s.totalMemory)});
  out.push_back({"computeCapability", std::to_string(s.computeMajor) + "." + std::to_string(s.computeMinor)});
  out.push_back({"multiprocessors", static_cast<double>(s.multiprocessors)});
  out.push_back({"deviceCachedBytes", static_cast<double>(a.cachedBytes)});
  return out;
}

}  // namespace tfe
