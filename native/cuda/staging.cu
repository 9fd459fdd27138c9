// Host <-> device transfers (see device.h): pinned staging buffers, uploads that return once the
// bytes are staged, downloads whole or split (queued on the JS thread, waited for on a worker).
#include <cstring>
#include <mutex>
#include <vector>

#include "cuda/device.h"
#include "core/host_allocator.h"
#include "cuda/pinned_cache.h"

namespace tfe {
namespace cuda {

// Pageable memory cannot be copied asynchronously (the driver stages it synchronously), so bytes
// go through pinned buffers (pinned_cache.h: at most kCachedPinnedMax bytes kept for reuse, the
// least recently returned freed first; pinning and freeing outside the lock). An upload's buffer
// goes back once its copy's event has completed.

namespace {

constexpr size_t kCachedPinnedMax = size_t(256) << 20;

void* pinnedAlloc(size_t bytes) {
  void* p = nullptr;
  if (cudaMallocHost(&p, bytes) != cudaSuccess) {
    cudaGetLastError();  // clear it: the cache frees what it holds and retries once
    return nullptr;
  }
  return p;
}

void pinnedFree(void* p) { cudaFreeHost(p); }

using InFlight = std::pair<void*, std::pair<size_t, cudaEvent_t>>;

struct Staging {
  PinnedCache cache{PinnedAllocator{pinnedAlloc, pinnedFree}, kCachedPinnedMax};
  std::mutex m;  // guards inFlight
  std::vector<InFlight> inFlight;
};

Staging& staging() {
  static Staging* s = [] {
    auto* st = new Staging();
    // Its idle buffers are freed by the host cache's sweep and counted in its cached bytes
    // (host_allocator.h): a burst of large transfers left up to kCachedPinnedMax pinned for good.
    registerHostCache({[] { return static_cast<int64_t>(staging().cache.cachedBytes()); }, [](double idleSeconds) { return static_cast<int64_t>(staging().cache.trimIdle(idleSeconds)); }});
    return st;
  }();
  return *s;
}

// Uploads whose copies have completed give their buffers back (the events are queried under the
// lock, everything else outside it).
void reapUploads(Staging& st) {
  std::vector<InFlight> done;
  {
    std::lock_guard<std::mutex> g(st.m);
    for (size_t i = 0; i < st.inFlight.size();) {
      if (cudaEventQuery(st.inFlight[i].second.second) == cudaSuccess) {
        done.push_back(st.inFlight[i]);
        st.inFlight[i] = st.inFlight.back();
        st.inFlight.pop_back();
      } else {
        ++i;
      }
    }
  }
  for (auto& f : done) {
    cudaEventDestroy(f.second.second);
    st.cache.give(f.first, f.second.first);
  }
}

void* takePinned(Staging& st, size_t size) {
  reapUploads(st);
  try {
    return st.cache.take(size);
  } catch (const std::bad_alloc&) {
    check(cudaErrorMemoryAllocation, "cudaMallocHost (pinned staging buffer)", __FILE__, __LINE__);
    throw;
  }
}

}  // namespace

void upload(const Tensor& t, const void* src, size_t n, int streamId) {
  if (n == 0) return;
  StreamScope scope(streamId);
  useOnCurrentStream(t);
  Staging& st = staging();
  size_t size = roundBlockSize(n);
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
    st.cache.give(pinned, size);
    throw;
  }
  std::lock_guard<std::mutex> g(st.m);
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
  staging().cache.give(pinned, size);
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
  d->pinned = takePinned(st, d->size);
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
  staging().cache.give(d.pinned, d.size);
  d.pinned = nullptr;
  d.t = Tensor();
  check(e, "download (cudaEventSynchronize)", __FILE__, __LINE__);
}

}  // namespace cuda
}  // namespace tfe
