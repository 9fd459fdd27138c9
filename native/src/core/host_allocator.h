// Caching host allocator. Freed buffers are kept on free lists keyed by size instead of being
// returned to malloc: a fresh mmap'd buffer page-faults on first touch, which costs as much as a
// small kernel, and MPC protocols allocate the same shapes over and over.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tfe {

void* hostAlloc(size_t bytes);  // 64-byte aligned; throws KernelError when out of memory
void hostFree(void* p, size_t bytes);

struct HostCacheStats {
  int64_t cachedBytes;  // held on free lists, ready for reuse
  int64_t hits, misses;
};
HostCacheStats hostCacheStats();
// Frees the cached buffers that have waited at least idleSeconds for reuse (0: all of them) and
// returns their bytes; a burst of large queries otherwise leaves up to the cap held for good. Then
// (glibc), once 64 MiB or more have gone back to malloc since the last time, returns the free
// pages of malloc's heaps to the system. Slow (a walk of every heap): call it off the JS thread.
int64_t hostCacheTrim(double idleSeconds);

// Another cache of freed host memory in this module (the CUDA backend's pinned staging buffers),
// counted in hostCacheStats().cachedBytes and trimmed by hostCacheTrim along with this one, so
// the sweep and the status see every buffer kept for reuse. Its trim frees with its own
// allocator (not malloc's), outside any lock of this cache.
struct ExtraHostCache {
  int64_t (*cachedBytes)();
  int64_t (*trim)(double idleSeconds);  // returns the bytes it freed
};
void registerHostCache(ExtraHostCache c);

}  // namespace tfe
