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
// Recycled buffers are kept for reuse up to kCachedPinnedMax bytes in all; past it a returned
// buffer is freed (cudaFreeHost), so one large transfer, or many sizes, pin no more host memory
// than that once they are done (they pinned it for the life of the process). A cudaMallocHost
// that fails frees every cached buffer and tries once more.

namespace {

constexpr size_t kCachedPinnedMax = size_t(256) << 20;

struct Staging {
  std::mutex m;
  std::map<size_t, std::vector<void*>> free;
  size_t cachedBytes = 0;
  std::vector<std::pair<void*, std::pair<size_t, cudaEvent_t>>> inFlight;
};

Staging& staging() {
  static Staging* s = new Staging();
  return *s;
}

// Under st.m: keeps a buffer for reuse, or frees it past the budget.
void givePinned(Staging& st, void* p, size_t size) {
  if (st.cachedBytes + size > kCachedPinnedMax) {
    cudaFreeHost(p);
    return;
  }
  st.free[size].push_back(p);
  st.cachedBytes += size;
}

// Under st.m: frees every cached buffer (before retrying an allocation that failed).
void dropCached(Staging& st) {
  for (auto& kv : st.free)
    for (void* p : kv.second) cudaFreeHost(p);
  st.free.clear();
  st.cachedBytes = 0;
}

void* takePinned(Staging& st, size_t size) {
  for (size_t i = 0; i < st.inFlight.size();) {
    auto& f = st.inFlight[i];
    if (cudaEventQuery(f.second.second) == cudaSuccess) {
      givePinned(st, f.first, f.second.first);
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
    st.cachedBytes -= size;
    return p;
  }
  void* p = nullptr;
  if (cudaMallocHost(&p, size) != cudaSuccess) {
    cudaGetLastError();  // clear it: the retry decides
    dropCached(st);
    TFE_CUDA_CHECK(cudaMallocHost(&p, size));
  }
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
  // Until the copy is recorded, a failure returns the buffer (and the event) here.
  cudaEvent_t e = nullptr;
  try {
    std::memcpy(pinned, src, n);
    cudaStream_t s = currentStream();
    TFE_CUDA_CHECK(cudaMemcpyAsync(t.storage->data(), pinned, n, cudaMemcpyHostToDevice, s));
    TFE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    TFE_CUDA_CHECK(cudaEventRecord(e, s));
  } catch (...) {
    // A copy that may have been queued must finish before its buffer is reused.
    cudaStreamSynchronize(currentStream());
    if (e) cudaEventDestroy(e);
    givePinned(st, pinned, size);
    throw;
  }
  st.inFlight.push_back({pinned, {size, e}});
}

void download(const Tensor& t, void* dst, size_t n, int streamId) {
  // The protocol needs this value on the host: the one place a party's stream is waited on.
  std::unique_ptr<Download> d = startDownload(t, n, streamId);
  finishDownload(*d, dst);
}

Download::~Download() {
  // Not finished (a failure after the buffer was taken, or never waited for): the copy may still
  // be queued, so it is waited for before the buffer goes back.
  if (!pinned) return;
  if (done && recorded) cudaEventSynchronize(done);
  else if (stream) cudaStreamSynchronize(stream);  // a copy may have been queued before the failure
  if (done) cudaEventDestroy(done);
  Staging& st = staging();
  std::lock_guard<std::mutex> g(st.m);
  givePinned(st, pinned, size);
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
  d->stream = s;
  cudaEvent_t e = nullptr;
  TFE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming | cudaEventBlockingSync));
  d->done = e;
  TFE_CUDA_CHECK(cudaMemcpyAsync(d->pinned, t.storage->data(), n, cudaMemcpyDeviceToHost, s));
  TFE_CUDA_CHECK(cudaEventRecord(d->done, s));
  d->recorded = true;
  return d;
}

void finishDownload(Download& d, void* dst) {
  if (d.n == 0 || !d.pinned) return;
  // Blocking-sync event: the worker thread sleeps instead of spinning while the GPU works.
  cudaError_t e = cudaEventSynchronize(d.done);
  if (e == cudaSuccess) std::memcpy(dst, d.pinned, d.n);
  cudaEventDestroy(d.done);
  d.done = nullptr;
  {
    Staging& st = staging();
    std::lock_guard<std::mutex> g(st.m);
    givePinned(st, d.pinned, d.size);
  }
  d.pinned = nullptr;
  d.t = Tensor();
  check(e, "download (cudaEventSynchronize)", __FILE__, __LINE__);
}

}  // namespace cuda
}  // namespace tfe
