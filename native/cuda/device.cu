// Device layer (see device.h): discovery, per-party streams, the caching allocator, staging.
#include "cuda/device.h"
#include "cuda/driver_compat.h"

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "kernels/check.h"

namespace tfe {
namespace cuda {

void check(cudaError_t e, const char* expr, const char* file, int line) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so that later calls are not blamed for it
  throw KernelError(std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ") in " + expr +
                    " [" + file + ":" + std::to_string(line) + "]");
}

const DeviceStatus& deviceStatus() {
  static const DeviceStatus status = [] {
    DeviceStatus s;
    // cudaDriverGetVersion reports 0 without touching a device when no driver is installed; the
    // static cudart loads libcuda.so lazily, so none of this fails to load on a CPU-only host.
    cudaDriverGetVersion(&s.driverVersion);
    cudaRuntimeGetVersion(&s.runtimeVersion);
    if (s.driverVersion == 0) {
      s.reason = "no NVIDIA driver found (libcuda.so could not be loaded)";
      return s;
    }
    // An older minor version is allowed (driver_compat.h); the context below is where it would fail.
    s.reason = driverMismatch(s.driverVersion, s.runtimeVersion);
    if (!s.reason.empty()) return s;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
      s.reason = e != cudaSuccess ? std::string("no usable CUDA device: ") + cudaGetErrorString(e) : "no CUDA device present";
      cudaGetLastError();
      return s;
    }
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, 0) != cudaSuccess || cudaSetDevice(0) != cudaSuccess) {
      s.reason = "CUDA device 0 could not be opened";
      cudaGetLastError();
      return s;
    }
    // The device's context, made now rather than at the first kernel. In the loader's probe
    // (CUDA_MODULE_LOADING=EAGER: lib/backend/cuda_loader.ts) it loads every kernel too, so a
    // driver older than this build (minor version compatibility) that cannot run it after all
    // fails here, and the CPU is used instead of failing later mid-query.
    cudaError_t ctx = cudaFree(nullptr);
    if (ctx != cudaSuccess) {
      s.reason = std::string("CUDA device 0 could not be initialised: ") + cudaGetErrorString(ctx) +
                 (minorCompat(s.driverVersion, s.runtimeVersion) ? " (the driver supports CUDA " + cudaVersionText(s.driverVersion) + ", older than this build's " + cudaVersionText(s.runtimeVersion) + ")" : "");
      cudaGetLastError();
      return s;
    }
    s.available = true;
    s.name = p.name;
    s.totalMemory = p.totalGlobalMem;
    s.computeMajor = p.major;
    s.computeMinor = p.minor;
    s.multiprocessors = p.multiProcessorCount;
    return s;
  }();
  return status;
}

void requireDevice() {
  const DeviceStatus& s = deviceStatus();
  if (!s.available) throw KernelError("CUDA backend unavailable: " + s.reason);
}

// ---- streams ----

namespace {
std::mutex g_streamMutex;
cudaStream_t g_streams[kMaxStreams] = {};
thread_local int t_stream = 0;
}  // namespace

cudaStream_t stream(int id) {
  if (id < 0 || id >= kMaxStreams) throw KernelError("stream " + std::to_string(id) + " is outside [0, 64)");
  std::lock_guard<std::mutex> g(g_streamMutex);
  if (!g_streams[id]) {
    requireDevice();
    // Non-blocking: the parties' streams never wait on the legacy default stream.
    TFE_CUDA_CHECK(cudaStreamCreateWithFlags(&g_streams[id], cudaStreamNonBlocking));
  }
  return g_streams[id];
}

int currentStreamId() { return t_stream; }
cudaStream_t currentStream() { return stream(t_stream); }
StreamScope::StreamScope(int id) : prev_(t_stream) { t_stream = id; }
StreamScope::~StreamScope() { t_stream = prev_; }

// ---- caching allocator ----
//
// Like the host cache, freed blocks stay on per-stream free lists keyed by rounded size: a
// cudaMalloc/cudaFree pair costs tens of microseconds and synchronises the device. A block is
// reused at once on its home stream (stream order makes that safe); a block that other streams
// also read waits until an event recorded on each of them at free time has completed.

namespace {

struct Block {
  void* ptr = nullptr;
  size_t size = 0;
  int home = 0;
  uint64_t usedOn = 0;  // bit s: read by a kernel on stream s != home
};

struct Pending {
  Block* block;
  std::vector<cudaEvent_t> events;
};

struct Allocator {
  std::mutex m;
  std::map<size_t, std::vector<Block*>> free[kMaxStreams];
  std::vector<Pending> pending;
  std::vector<cudaEvent_t> spareEvents;
  int64_t cached = 0, hits = 0, misses = 0;
};

Allocator& allocator() {
  static Allocator* a = new Allocator();  // never destroyed: frees can come during static destruction
  return *a;
}

}  // namespace

size_t roundBlockSize(size_t bytes) {
  if (bytes <= (size_t(1) << 20)) return ((bytes + 511) / 512) * 512 + (bytes == 0 ? 512 : 0);
  return ((bytes + (size_t(1) << 20) - 1) >> 20) << 20;  // whole MiB above 1 MiB
}

namespace {

cudaEvent_t takeEvent(Allocator& a) {
  if (!a.spareEvents.empty()) {
    cudaEvent_t e = a.spareEvents.back();
    a.spareEvents.pop_back();
    return e;
  }
  cudaEvent_t e;
  TFE_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

// Moves blocks whose cross-stream readers have finished back to their home free lists.
void reapPending(Allocator& a) {
  for (size_t i = 0; i < a.pending.size();) {
    Pending& p = a.pending[i];
    bool done = true;
    for (cudaEvent_t e : p.events) {
      cudaError_t q = cudaEventQuery(e);
      if (q == cudaErrorNotReady) {
        done = false;
        break;
      }
      TFE_CUDA_CHECK(q);
    }
    if (!done) {
      ++i;
      continue;
    }
    for (cudaEvent_t e : p.events) a.spareEvents.push_back(e);
    p.block->usedOn = 0;
    a.free[p.block->home][p.block->size].push_back(p.block);
    a.cached += static_cast<int64_t>(p.block->size);
    a.pending[i] = a.pending.back();
    a.pending.pop_back();
  }
}

void releaseCached(Allocator& a) {
  for (auto& lists : a.free)
    for (auto& kv : lists) {
      for (Block* b : kv.second) {
        cudaFree(b->ptr);
        delete b;
      }
      kv.second.clear();
    }
  a.cached = 0;
}

void freeBlock(void*, size_t, void* ctx) {
  Block* b = static_cast<Block*>(ctx);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> g(a.m);
  try {
    if (b->usedOn == 0) {
      a.free[b->home][b->size].push_back(b);
      a.cached += static_cast<int64_t>(b->size);
      return;
    }
    Pending p{b, {}};
    for (int s = 0; s < kMaxStreams; ++s)
      if (b->usedOn >> s & 1) {
        cudaEvent_t e = takeEvent(a);
        TFE_CUDA_CHECK(cudaEventRecord(e, stream(s)));
        p.events.push_back(e);
      }
    a.pending.push_back(std::move(p));
  } catch (const std::exception&) {
    // A destructor cannot throw: fall back to a synchronous free, which is always safe.
    cudaFree(b->ptr);
    delete b;
  }
}

}  // namespace

Tensor allocDevice(const Shape& shape, DType dtype, uint32_t modulus) {
  size_t bytes = static_cast<size_t>(numel(shape)) * elemSize(dtype);
  size_t size = roundBlockSize(bytes);
  int home = t_stream;
  cudaStream_t s = stream(home);  // also checks the device
  (void)s;
  Allocator& a = allocator();
  Block* b = nullptr;
  {
    std::lock_guard<std::mutex> g(a.m);
    if (!a.pending.empty()) reapPending(a);
    auto it = a.free[home].find(size);
    if (it != a.free[home].end() && !it->second.empty()) {
      b = it->second.back();
      it->second.pop_back();
      a.cached -= static_cast<int64_t>(size);
      ++a.hits;
    } else {
      ++a.misses;
    }
  }
  if (!b) {
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      trimCache();  // give the cache back and try once more
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess)
      check(e, ("cudaMalloc of " + std::to_string(size) + " bytes for tensor " + shapeStr(shape)).c_str(), __FILE__, __LINE__);
    b = new Block{p, size, home, 0};
  }
  Tensor t;
  t.shape = shape;
  t.dtype = dtype;
  t.modulus = modulus;
  t.storage = std::make_shared<Storage>(b->ptr, bytes, MemSpace::Cuda, StorageDeleter{freeBlock, b});
  return t;
}

void useOnCurrentStream(const Tensor& t) {
  if (!t.storage) return;
  if (t.storage->space() != MemSpace::Cuda) throw KernelError("a host tensor was passed to a CUDA kernel");
  Block* b = static_cast<Block*>(t.storage->deleterContext());
  int cur = t_stream;
  if (b->home == cur) return;
  // Recorded now, the event follows every kernel already queued on the home stream, the
  // producer of t included (it was launched before its handle reached the caller).
  Allocator& a = allocator();
  cudaEvent_t e;
  {
    std::lock_guard<std::mutex> g(a.m);
    e = takeEvent(a);
    b->usedOn |= uint64_t(1) << cur;
  }
  TFE_CUDA_CHECK(cudaEventRecord(e, stream(b->home)));
  TFE_CUDA_CHECK(cudaStreamWaitEvent(stream(cur), e, 0));
  // The wait captured the event's state; the event itself can be reused right away.
  std::lock_guard<std::mutex> g(a.m);
  a.spareEvents.push_back(e);
}

AllocatorStats allocatorStats() {
  Allocator& a = allocator();
  std::lock_guard<std::mutex> g(a.m);
  return {a.cached, a.hits, a.misses};
}

void trimCache() {
  Allocator& a = allocator();
  cudaDeviceSynchronize();  // pending readers finish, so every cached block can go
  std::lock_guard<std::mutex> g(a.m);
  reapPending(a);
  releaseCached(a);
}

}  // namespace cuda
}  // namespace tfe
