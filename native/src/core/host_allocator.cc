#include "core/host_allocator.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "core/tensor.h"

namespace tfe {

namespace {

// Small buffers are cached too: glibc's aligned allocations of a few KB fragment the heap, which
// it then trims and grows again, page-faulting (measured: a 1000-element add took 20-50 us, almost
// all in clear_page). Below this size, sizes round to 64 bytes; above, to whole pages.
constexpr size_t kPageRounding = 64 * 1024;

// Bytes freed to malloc (by the cache's trims and evictions, or frees over its cap) before a trim
// hands malloc's free pages back to the system.
constexpr size_t kTrimBytes = size_t(64) << 20;

size_t capacityBytes() {
  static const size_t cap = [] {
    if (const char* e = std::getenv("TFE_HOST_CACHE_MB")) return static_cast<size_t>(std::strtoull(e, nullptr, 10)) << 20;
    return size_t(1) << 30;  // 1 GiB by default
  }();
  return cap;
}

using Clock = std::chrono::steady_clock;

struct Cached {
  void* p;
  Clock::time_point since;  // when it was freed into the cache: hostCacheTrim frees the stale ones
};

struct Cache {
  std::mutex m;
  std::map<size_t, std::vector<Cached>> free;  // rounded size -> buffers, oldest first
  size_t cached = 0;
  int64_t hits = 0, misses = 0;
  std::atomic<size_t> freedToMalloc{0};  // bytes since the last malloc_trim: its heaps may hold them as free pages
};

Cache& cache() {
  static Cache* c = new Cache();  // never destroyed: frees can arrive during static destruction
  return *c;
}

size_t roundSize(size_t bytes) {
  if (bytes < kPageRounding) return ((bytes + 63) / 64) * 64 + (bytes == 0 ? 64 : 0);
  return ((bytes + 4095) / 4096) * 4096;  // whole pages, so near sizes share a list
}

struct Extras {
  std::mutex m;
  std::vector<ExtraHostCache> caches;
};

Extras& extras() {
  static Extras* e = new Extras();  // never destroyed, as the cache
  return *e;
}

std::vector<ExtraHostCache> extraCaches() {
  Extras& e = extras();
  std::lock_guard<std::mutex> g(e.m);
  return e.caches;
}

}  // namespace

void registerHostCache(ExtraHostCache c) {
  Extras& e = extras();
  std::lock_guard<std::mutex> g(e.m);
  e.caches.push_back(c);
}

void* hostAlloc(size_t bytes) {
  size_t size = roundSize(bytes);
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> g(c.m);
    auto it = c.free.find(size);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back().p;  // the most recently freed: likeliest still in cache
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
      std::free(last->second.back().p);
      last->second.pop_back();
      c.cached -= last->first;
      c.freedToMalloc += last->first;
    }
    c.free[size].push_back({p, Clock::now()});
    c.cached += size;
    return;
  }
  std::free(p);
  cache().freedToMalloc += size;
}

HostCacheStats hostCacheStats() {
  HostCacheStats st;
  {
    Cache& c = cache();
    std::lock_guard<std::mutex> g(c.m);
    st = {static_cast<int64_t>(c.cached), c.hits, c.misses};
  }
  for (const ExtraHostCache& x : extraCaches()) st.cachedBytes += x.cachedBytes();
  return st;
}

int64_t hostCacheTrim(double idleSeconds) {
  std::vector<void*> stale;  // freed after the lock is let go: kernel threads allocate meanwhile
  int64_t released = 0;
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> g(c.m);
    const Clock::time_point cutoff = Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(idleSeconds));
    for (auto it = c.free.begin(); it != c.free.end();) {
      auto& list = it->second;
      size_t n = 0;  // the list is oldest first: its stale buffers are a prefix
      while (n < list.size() && (idleSeconds <= 0 || list[n].since <= cutoff)) stale.push_back(list[n++].p);
      list.erase(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(n));
      released += static_cast<int64_t>(n * it->first);
      c.cached -= n * it->first;
      it = list.empty() ? c.free.erase(it) : std::next(it);
    }
  }
  for (void* p : stale) std::free(p);
#if defined(__GLIBC__)
  // Hand the free pages inside malloc's heaps back too. glibc raises its mmap threshold to each
  // large block freed (up to 32 MiB), so blocks of megabytes come from the heaps and, freed, stay
  // resident: a server that saw abandoned queries of changing batch sizes grew by 1.3 GB beyond
  // this cache while holding no tensor. (A fixed threshold instead made every large block a
  // fresh mmap that page-faults: FSS C_max at batch 128 took up to 1.6x the CPU.) Only once
  // enough has been freed: a trim walks every heap (149 ms over 1.2 GiB of free heap), and the
  // pages it returns fault back in when used again.
  size_t pending = c.freedToMalloc.fetch_add(static_cast<size_t>(released)) + static_cast<size_t>(released);
  if (pending >= kTrimBytes) {
    c.freedToMalloc.fetch_sub(pending);
    malloc_trim(0);
  }
#endif
  // The other caches free with their own allocators: nothing of theirs goes back to malloc.
  for (const ExtraHostCache& x : extraCaches()) released += x.trim(idleSeconds);
  return released;
}

}  // namespace tfe
