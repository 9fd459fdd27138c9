// A small fork-join pool shared by all kernels. The calling thread always takes part, so
// several parties' kernels (each on its own libuv worker) can run at once without deadlock.
#pragma once
#include <cstdint>
#include <functional>

namespace tfe {

// Runs fn(lo, hi) over [begin, end) split into at most numThreads() chunks of >= grain items.
// Exceptions from any chunk are rethrown in the caller.
void parallelFor(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Runs fn(i) for every i in [0, n), handing items out one at a time: for a few uneven tasks
// (matmul tiles) where a static split would leave a thread idle.
void parallelForEach(int64_t n, const std::function<void(int64_t)>& fn);

int numThreads();
// Changes the pool size. Must not be called while kernels are running.
void setNumThreads(int n);

}  // namespace tfe
