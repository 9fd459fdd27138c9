// The pinned host buffers staging.cu recycles, as a policy on its own (host code, no CUDA in it:
// the allocator is a parameter, so tfe_cuda_host_check tests it without a GPU).
//
// Buffers come back for reuse by size; in all at most `budget` bytes are kept, the least recently
// returned going first when a return would pass it. Allocating and freeing pinned memory are
// slow and synchronise the device (cudaFreeHost waits for the GPU), so neither runs under the
// lock: a thread freeing an evicted buffer, or pinning a new one, no longer stalls every other
// thread's transfers. An allocation that fails frees every cached buffer and tries once more.
// trimIdle frees the buffers nobody took for a while (the host cache's sweep calls it: a burst
// of large transfers otherwise left the budget pinned for good).
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace tfe {
namespace cuda {

struct PinnedAllocator {
  // Returns nullptr when the memory cannot be had.
  void* (*alloc)(size_t bytes);
  void (*free)(void* p);
};

class PinnedCache {
 public:
  PinnedCache(PinnedAllocator a, size_t budget) : a_(a), budget_(budget) {}

  // A buffer of exactly `size` bytes: the most recently returned one of that size, or a new one.
  // Throws std::bad_alloc when none can be allocated even after freeing the cached ones.
  void* take(size_t size) {
    {
      Guard g(*this);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back().p;
        it->second.pop_back();
        if (it->second.empty()) free_.erase(it);
        cached_ -= size;
        return p;
      }
    }
    if (void* p = a_.alloc(size)) return p;
    release(drainAll());
    if (void* p = a_.alloc(size)) return p;
    throw std::bad_alloc();
  }

  // Keeps `p` (of `size` bytes) for reuse; frees the least recently returned buffers past the
  // budget (p itself, and nothing else, when it alone is larger).
  void give(void* p, size_t size) {
    // Larger than the whole budget: freed, not kept at the cost of every other buffer.
    if (size > budget_) {
      a_.free(p);
      return;
    }
    std::vector<void*> evicted;
    {
      Guard g(*this);
      free_[size].push_back({++tick_, Clock::now(), p});
      cached_ += size;
      while (cached_ > budget_) {
        // The least recently returned: the oldest front among the sizes (few: sizes are rounded).
        auto lru = free_.end();
        for (auto it = free_.begin(); it != free_.end(); ++it)
          if (lru == free_.end() || it->second.front().tick < lru->second.front().tick) lru = it;
        evicted.push_back(lru->second.front().p);
        cached_ -= lru->first;
        lru->second.pop_front();
        if (lru->second.empty()) free_.erase(lru);
      }
    }
    release(evicted);
  }

  // Frees every cached buffer (outside the lock).
  void clear() { release(drainAll()); }

  // Frees the buffers returned at least idleSeconds ago (0: all) and returns their bytes; the
  // freeing runs outside the lock, as everywhere here.
  size_t trimIdle(double idleSeconds) {
    std::vector<void*> stale;
    size_t bytes = 0;
    {
      Guard g(*this);
      const Clock::time_point cutoff = Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(idleSeconds));
      for (auto it = free_.begin(); it != free_.end();) {
        auto& list = it->second;  // oldest first: the stale ones are a prefix
        while (!list.empty() && (idleSeconds <= 0 || list.front().since <= cutoff)) {
          stale.push_back(list.front().p);
          list.pop_front();
          bytes += it->first;
        }
        it = list.empty() ? free_.erase(it) : std::next(it);
      }
      cached_ -= bytes;
    }
    release(stale);
    return bytes;
  }

  size_t cachedBytes() {
    Guard g(*this);
    return cached_;
  }

  // For the host check: whether a thread holds the cache's lock right now.
  bool locked() const { return held_.load(); }

 private:
  std::vector<void*> drainAll() {
    std::vector<void*> all;
    Guard g(*this);
    for (auto& kv : free_)
      for (auto& e : kv.second) all.push_back(e.p);
    free_.clear();
    cached_ = 0;
    return all;
  }

  void release(const std::vector<void*>& ps) {
    for (void* p : ps) a_.free(p);
  }

  // The lock, and a flag saying it is held (locked()).
  struct Guard {
    explicit Guard(PinnedCache& c) : c_(c) {
      c_.m_.lock();
      c_.held_ = true;
    }
    ~Guard() {
      c_.held_ = false;
      c_.m_.unlock();
    }
    PinnedCache& c_;
  };

  using Clock = std::chrono::steady_clock;
  struct Entry {
    uint64_t tick;            // order of return, for the budget's least recently returned
    Clock::time_point since;  // when it was returned, for trimIdle
    void* p;
  };

  PinnedAllocator a_;
  const size_t budget_;
  std::mutex m_;
  std::atomic<bool> held_{false};
  // By size, oldest first.
  std::map<size_t, std::deque<Entry>> free_;
  size_t cached_ = 0;
  uint64_t tick_ = 0;
};

}  // namespace cuda
}  // namespace tfe
