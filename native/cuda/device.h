// The CUDA backend's device layer: device discovery, one stream per party, a caching
// stream-ordered allocator, pinned staging for transfers. Kernels (*.cu in this folder) use it;
// they know nothing of parties or protocols beyond "run on the current stream".
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"

// Every failed CUDA call becomes a KernelError naming the call, file and line.
#define TFE_CUDA_CHECK(expr) ::tfe::cuda::check((expr), #expr, __FILE__, __LINE__)
// After a launch: catches bad launch configurations at once (not the kernel's own faults,
// which surface at the next synchronising call, as CUDA reports them).
#define TFE_CUDA_LAUNCHED() ::tfe::cuda::check(cudaGetLastError(), "kernel launch", __FILE__, __LINE__)

namespace tfe {
namespace cuda {

void check(cudaError_t e, const char* expr, const char* file, int line);

struct DeviceStatus {
  bool available = false;
  std::string reason;  // why not, when not available
  int device = 0;
  std::string name;
  size_t totalMemory = 0;
  int computeMajor = 0, computeMinor = 0;
  int driverVersion = 0, runtimeVersion = 0;
  int multiprocessors = 0;
};
// Probes the driver and device once; never throws.
const DeviceStatus& deviceStatus();
// Throws a KernelError with deviceStatus().reason when no usable device is present.
void requireDevice();

constexpr int kMaxStreams = 64;
// Stream `id` (one per party in local mode), created non-blocking on first use.
cudaStream_t stream(int id);
// The stream kernels on this thread launch on; set by the dispatcher around each kernel call.
int currentStreamId();
cudaStream_t currentStream();
class StreamScope {
 public:
  explicit StreamScope(int id);
  ~StreamScope();

 private:
  int prev_;
};

// The allocator's size classes: 512-byte steps up to 1 MiB, whole MiB above (staging uses them too).
size_t roundBlockSize(size_t bytes);

// A device tensor from the caching allocator, owned by the current stream.
Tensor allocDevice(const Shape& shape, DType dtype, uint32_t modulus = 0);
// Before a kernel on the current stream reads t: waits for t's producer if t was made on another
// stream, and records the use so that t's memory is not recycled before this stream is done.
void useOnCurrentStream(const Tensor& t);

struct AllocatorStats {
  int64_t cachedBytes = 0, hits = 0, misses = 0;
};
AllocatorStats allocatorStats();
// Returns every cached block to the driver (after the device is idle).
void trimCache();

// Host <-> device through pinned staging buffers, on stream `streamId`. upload returns once the
// bytes are staged (the copy runs on the stream); download returns once dst holds the value.
void upload(const Tensor& t, const void* src, size_t n, int streamId);
void download(const Tensor& t, void* dst, size_t n, int streamId);

// A download in two halves (see binding/backend.h): start on the JS thread, finish on a worker.
struct Download {
  Tensor t;  // keeps the source alive until the copy is done
  void* pinned = nullptr;
  size_t n = 0, size = 0;
  cudaEvent_t done = nullptr;
  // The stream its copy was queued on, and whether `done` was recorded after it: a failure in
  // between leaves an event that says nothing, and the stream is waited for instead.
  cudaStream_t stream = nullptr;
  bool recorded = false;
  Download() = default;
  Download(const Download&) = delete;
  Download& operator=(const Download&) = delete;
  // Returns the staging buffer (after the copy) when finishDownload did not.
  ~Download();
};
std::unique_ptr<Download> startDownload(const Tensor& t, size_t n, int streamId);
void finishDownload(Download& d, void* dst);

// Grid size for a grid-stride loop over n items.
inline unsigned gridFor(int64_t n, unsigned block = 256) {
  int64_t g = (n + block - 1) / block;
  if (g < 1) g = 1;
  if (g > (int64_t(1) << 20)) g = int64_t(1) << 20;
  return static_cast<unsigned>(g);
}

template <typename T>
inline T* devPtr(const Tensor& t) {
  return static_cast<T*>(t.storage->data());
}

}  // namespace cuda
}  // namespace tfe
