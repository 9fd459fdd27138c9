// Host checks of pinned_cache.h, with a counting allocator in place of cudaMallocHost: buffers
// are reused by size, at most the budget is kept, the least recently returned goes first, a
// failed allocation frees the cache and retries once, and the allocator is never called while
// the cache's lock is held (cudaFreeHost synchronises the device: under the lock it stalled every
// other thread's transfers).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/host_allocator.h"
#include "cuda/pinned_cache.h"
#include "cuda/test/host_check.h"

namespace {

using tfe::cuda::PinnedAllocator;
using tfe::cuda::PinnedCache;

PinnedCache* g_cache = nullptr;
// Only while one thread uses the cache: with several, another thread's lock is legitimately held.
bool g_checkLock = false;
std::mutex g_fakeM;  // the allocator is called outside the cache's lock, from any thread
std::set<void*> g_live;
std::vector<void*> g_freed;
int g_allocs = 0, g_failNext = 0;
bool g_underLock = false;

void* fakeAlloc(size_t bytes) {
  if (g_checkLock && g_cache->locked()) g_underLock = true;
  std::lock_guard<std::mutex> g(g_fakeM);
  if (g_failNext > 0) {
    --g_failNext;
    return nullptr;
  }
  ++g_allocs;
  void* p = std::malloc(bytes);
  g_live.insert(p);
  return p;
}

void fakeFree(void* p) {
  if (g_checkLock && g_cache->locked()) g_underLock = true;
  std::lock_guard<std::mutex> g(g_fakeM);
  g_live.erase(p);
  g_freed.push_back(p);
  std::free(p);
}

// Each check starts with the fake allocator's records empty.
void resetFakes() {
  g_live.clear(), g_freed.clear(), g_allocs = 0, g_failNext = 0, g_underLock = false;
}

bool expect(bool ok, const char* what) {
  if (!ok) std::printf("  pinned cache: %s\n", what);
  return ok;
}

}  // namespace

TFE_HOST_CHECK(pinned_cache_reuse_budget_lru_and_no_allocator_under_lock) {
  resetFakes();
  PinnedCache cache(PinnedAllocator{fakeAlloc, fakeFree}, 300);
  g_cache = &cache;
  g_checkLock = true;
  bool ok = true;
  // Reuse by size: a returned buffer is taken again, no new allocation.
  void* a = cache.take(100);
  cache.give(a, 100);
  ok &= expect(cache.take(100) == a && g_allocs == 1, "a returned buffer of the same size is reused");
  cache.give(a, 100);
  void* x = cache.take(200);
  ok &= expect(x != a && g_allocs == 2, "another size allocates");
  cache.give(x, 200);
  // Budget 300 and least recently returned first: a (100) returned first, then b (200), then
  // c (100): 400 > 300 evicts a, the oldest, not c; the next take of 100 gets c.
  cache.clear();
  void* a2 = cache.take(100);
  void* b = cache.take(200);
  void* c = cache.take(100);
  g_freed.clear();
  cache.give(a2, 100);
  cache.give(b, 200);
  cache.give(c, 100);
  ok &= expect(g_freed.size() == 1 && g_freed[0] == a2, "past the budget, the least recently returned buffer is freed");
  ok &= expect(cache.cachedBytes() == 300, "the cache keeps exactly its budget");
  ok &= expect(cache.take(100) == c, "the most recently returned buffer of a size is taken first");
  cache.give(c, 100);
  // A buffer larger than the budget is freed when returned.
  void* big = cache.take(1000);
  g_freed.clear();
  cache.give(big, 1000);
  ok &= expect(g_freed.size() == 1 && g_freed[0] == big && cache.cachedBytes() == 300, "a buffer over the budget is freed, and only it");
  // A failed allocation frees every cached buffer, then succeeds on its retry.
  cache.clear();
  void* kept = cache.take(40);
  cache.give(kept, 40);
  g_failNext = 1;
  g_freed.clear();
  void* d = cache.take(50);
  ok &= expect(d != nullptr && cache.cachedBytes() == 0 && g_freed.size() == 1 && g_freed[0] == kept, "a failed allocation frees the cache and retries");
  // Two failures: the caller is told.
  cache.give(d, 50);
  g_failNext = 2;
  bool threw = false;
  try {
    cache.take(60);
  } catch (const std::bad_alloc&) {
    threw = true;
  }
  ok &= expect(threw, "an allocation that fails twice throws");
  const bool underLockAlone = g_underLock;
  g_checkLock = false;
  // Many threads taking and giving: every buffer ends freed or cached, none twice.
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&cache, i] {
      for (int k = 0; k < 2000; ++k) {
        size_t size = size_t(16) << ((i + k) % 5);
        cache.give(cache.take(size), size);
      }
    });
  for (auto& t : ts) t.join();
  cache.clear();
  ok &= expect(g_live.empty(), "after clear() every buffer is freed");
  ok &= expect(!underLockAlone, "the allocator ran under the cache's lock");
  g_cache = nullptr;
  return ok;
}

// The sweep's call (trimIdle, through host_allocator.h's registered caches): buffers returned at
// least the idle time ago are freed, outside the lock; fresher ones stay; 0 frees all.
TFE_HOST_CHECK(pinned_cache_trim_idle_frees_only_the_stale) {
  resetFakes();
  PinnedCache cache(PinnedAllocator{fakeAlloc, fakeFree}, 1000);
  g_cache = &cache;
  g_checkLock = true;
  bool ok = true;
  void* old1 = cache.take(100);
  void* old2 = cache.take(200);
  cache.give(old1, 100);
  cache.give(old2, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  void* fresh = cache.take(300);
  cache.give(fresh, 300);
  g_freed.clear();
  ok &= expect(cache.trimIdle(0.03) == 300, "trimIdle returns the bytes of the stale buffers");
  ok &= expect(g_freed.size() == 2 && std::set<void*>(g_freed.begin(), g_freed.end()) == std::set<void*>{old1, old2}, "the buffers returned before the idle time are freed, and only they");
  ok &= expect(cache.cachedBytes() == 300 && cache.take(300) == fresh, "a buffer returned since is kept for reuse");
  cache.give(fresh, 300);
  ok &= expect(cache.trimIdle(3600) == 0 && cache.cachedBytes() == 300, "nothing is idle that long");
  ok &= expect(cache.trimIdle(0) == 300 && cache.cachedBytes() == 0 && g_live.empty(), "0 frees every cached buffer");
  ok &= expect(!g_underLock, "the allocator ran under the cache's lock");
  g_checkLock = false;
  g_cache = nullptr;
  return ok;
}

// staging.cu registers its cache with the host allocator (host_allocator.h registerHostCache):
// the module's cached bytes count it, and the module's trim frees its idle buffers.
TFE_HOST_CHECK(pinned_cache_counted_and_trimmed_with_the_host_cache) {
  resetFakes();
  static PinnedCache cache(PinnedAllocator{fakeAlloc, fakeFree}, 1 << 20);
  static bool registered = false;
  if (!registered) {
    tfe::registerHostCache({[] { return static_cast<int64_t>(cache.cachedBytes()); }, [](double s) { return static_cast<int64_t>(cache.trimIdle(s)); }});
    registered = true;
  }
  bool ok = true;
  tfe::hostCacheTrim(0);  // the host cache's own buffers out of the way
  const int64_t before = tfe::hostCacheStats().cachedBytes;
  void* p = cache.take(4096);
  cache.give(p, 4096);
  ok &= expect(tfe::hostCacheStats().cachedBytes == before + 4096, "the host cache's stats count the pinned buffers");
  ok &= expect(tfe::hostCacheTrim(3600) == 0 && cache.cachedBytes() == 4096, "a fresh pinned buffer is kept by the sweep");
  ok &= expect(tfe::hostCacheTrim(0) >= 4096 && cache.cachedBytes() == 0 && g_live.empty(), "the sweep frees the idle pinned buffers");
  return ok;
}
