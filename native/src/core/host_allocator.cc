#include "core/host_allocator.h"

#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#include "core/tensor.h"

namespace tfe {

namespace {

// Small buffers are cached too: glibc's aligned allocations of a few KB fragment the heap, which
// it then trims and grows again, page-faulting (measured: a 1000-element add took 20-50 us, almost
// all in clear_page). Below this size, sizes round to 64 bytes; above, to whole pages.
constexpr size_t kPageRounding = 64 * 1024;

size_t capacityBytes() {
  static const size_t cap = [] {
    if (const char* e = std::getenv("TFE_HOST_CACHE_MB")) return static_cast<size_t>(std::strtoull(e, nullptr, 10)) << 20;
    return size_t(1) << 30;  // 1 GiB by default
  }();
  return cap;
}

struct Cache {
  std::mutex m;
  std::map<size_t, std::vector<void*>> free;  // rounded size -> buffers
  size_t cached = 0;
  int64_t hits = 0, misses = 0;
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: frees can arrive during static destruction
  return *c;
}

size_t roundSize(size_t bytes) {
  if (bytes < kPageRounding) return ((bytes + 63) / 64) * 64 + (bytes == 0 ? 64 : 0);
  return ((bytes + 4095) / 4096) * 4096;  // whole pages, so near sizes share a list
}

}  // namespace

void* hostAlloc(size_t bytes) {
  size_t size = roundSize(bytes);
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> g(c.m);
    auto it = c.free.find(size);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.cached -= size;
      ++c.hits;
      return p;
    }
    ++c.misses;
  }
  void* p = std::aligned_alloc(64, size);
  if (!p) throw KernelError("out of memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}

void hostFree(void* p, size_t bytes) {
  if (!p) return;
  size_t size = roundSize(bytes);
  if (size <= capacityBytes()) {
    Cache& c = cache();
    std::lock_guard<std::mutex> g(c.m);
    // Evict the largest cached buffers until this one fits under the cap.
    while (c.cached + size > capacityBytes() && !c.free.empty()) {
      auto last = std::prev(c.free.end());
      if (last->second.empty()) {
        c.free.erase(last);
        continue;
      }
      std::free(last->second.back());
      last->second.pop_back();
      c.cached -= last->first;
    }
    c.free[size].push_back(p);
    c.cached += size;
    return;
  }
  std::free(p);
}

HostCacheStats hostCacheStats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> g(c.m);
  return {static_cast<int64_t>(c.cached), c.hits, c.misses};
}

void hostCacheTrim() {
  Cache& c = cache();
  std::lock_guard<std::mutex> g(c.m);
  for (auto& kv : c.free)
    for (void* p : kv.second) std::free(p);
  c.free.clear();
  c.cached = 0;
}

}  // namespace tfe
