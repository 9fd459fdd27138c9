// Host <-> device transfers (see device.h): pinned staging buffers, uploads that return once the
// bytes are staged, downloads whole or split (queued on the JS thread, waited for on a worker).
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "cuda/device.h"

namespace tfe {
namespace cuda {

// Pageable memory cannot be copied asynchronously (the driver stages it synchronously), so bytes
// go through pinned buffers. An upload's buffer is recycled once the copy's event has completed.

namespace {

struct Staging {
  std::mutex m;
  std::map<size_t, std::vector<void*>> free;
  std::vector<std::pair<void*, std::pair<size_t, cudaEvent_t>>> inFlight;
};

Staging& staging() {
  static Staging* s = new Staging();
  return *s;
}

void* takePinned(Staging& st, size_t size) {
  for (size_t i = 0; i < st.inFlight.size();) {
    auto& f = st.inFlight[i];
    if (cudaEventQuery(f.second.second) == cudaSuccess) {
      st.free[f.second.first].push_back(f.first);
      cudaEventDestroy(f.second.second);
      st.inFlight[i] = st.inFlight.back();
      st.inFlight.pop_back();
    } else {
      ++i;
    }
  }
  auto it = st.free.find(size);
  if (it != st.free.end() && !it->second.empty()) {
    void* p = it->second.back();
    it->second.pop_back();
    return p;
  }
  void* p = nullptr;
  TFE_CUDA_CHECK(cudaMallocHost(&p, size));
  return p;
}

}  // namespace

void upload(const Tensor& t, const void* src, size_t n, int streamId) {
  if (n == 0) return;
  StreamScope scope(streamId);
  useOnCurrentStream(t);
  Staging& st = staging();
  size_t size = roundBlockSize(n);
  std::lock_guard<std::mutex> g(st.m);
  void* pinned = takePinned(st, size);
  std::memcpy(pinned, src, n);
  cudaStream_t s = currentStream();
  TFE_CUDA_CHECK(cudaMemcpyAsync(t.storage->data(), pinned, n, cudaMemcpyHostToDevice, s));
  cudaEvent_t e;
  TFE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  TFE_CUDA_CHECK(cudaEventRecord(e, s));
  st.inFlight.push_back({pinned, {size, e}});
}

void download(const Tensor& t, void* dst, size_t n, int streamId) {
  // The protocol needs this value on the host: the one place a party's stream is waited on.
  std::unique_ptr<Download> d = startDownload(t, n, streamId);
  finishDownload(*d, dst);
}

std::unique_ptr<Download> startDownload(const Tensor& t, size_t n, int streamId) {
  auto d = std::make_unique<Download>();
  d->t = t;
  d->n = n;
  if (n == 0) return d;
  StreamScope scope(streamId);
  useOnCurrentStream(t);
  Staging& st = staging();
  d->size = roundBlockSize(n);
  {
    std::lock_guard<std::mutex> g(st.m);
    d->pinned = takePinned(st, d->size);
  }
  cudaStream_t s = currentStream();
  TFE_CUDA_CHECK(cudaEventCreateWithFlags(&d->done, cudaEventDisableTiming | cudaEventBlockingSync));
  TFE_CUDA_CHECK(cudaMemcpyAsync(d->pinned, t.storage->data(), n, cudaMemcpyDeviceToHost, s));
  TFE_CUDA_CHECK(cudaEventRecord(d->done, s));
  return d;
}

void finishDownload(Download& d, void* dst) {
  if (d.n == 0) return;
  // Blocking-sync event: the worker thread sleeps instead of spinning while the GPU works.
  cudaError_t e = cudaEventSynchronize(d.done);
  if (e == cudaSuccess) std::memcpy(dst, d.pinned, d.n);
  cudaEventDestroy(d.done);
  {
    Staging& st = staging();
    std::lock_guard<std::mutex> g(st.m);
    st.free[d.size].push_back(d.pinned);
  }
  d.t = Tensor();
  check(e, "download (cudaEventSynchronize)", __FILE__, __LINE__);
}

}  // namespace cuda
}  // namespace tfe
