#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace tfe {

namespace {

struct Job {
  const std::function<void(int64_t, int64_t)>* fn;
  int64_t begin, end, chunks;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex m;
  std::condition_variable cv;
  std::exception_ptr error;

  // Runs chunks until none are left. Returns when this thread can take no more.
  void work() {
    for (;;) {
      int64_t c = next.fetch_add(1);
      if (c >= chunks) return;
      int64_t n = end - begin;
      int64_t lo = begin + n * c / chunks, hi = begin + n * (c + 1) / chunks;
      try {
        (*fn)(lo, hi);
      } catch (...) {
        std::lock_guard<std::mutex> g(m);
        if (!error) error = std::current_exception();
      }
      if (done.fetch_add(1) + 1 == chunks) {
        std::lock_guard<std::mutex> g(m);
        cv.notify_all();
      }
    }
  }
};

class Pool {
 public:
  explicit Pool(int threads) : threads_(threads) {
    try {
      for (int i = 0; i < threads - 1; ++i) workers_.emplace_back([this] { loop(); });
    } catch (const std::system_error& e) {
      // A thread that cannot start (a process or thread limit): the ones started stop, so that
      // nothing waits on this pool's condition variable as it goes (that hung the process).
      stopAll();
      throw std::runtime_error("cannot start " + std::to_string(threads) + " kernel threads (" + e.what() + "); set TFE_NUM_THREADS or setNumThreads lower");
    }
  }
  ~Pool() { stopAll(); }
  int threads() const { return threads_; }

  void run(const std::shared_ptr<Job>& job) {
    {
      std::lock_guard<std::mutex> g(m_);
      queue_.push_back(job);
    }
    cv_.notify_all();
    job->work();
    std::unique_lock<std::mutex> lk(job->m);
    job->cv.wait(lk, [&] { return job->done.load() == job->chunks; });
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  void stopAll() {
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  void loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        job = queue_.front();
        // Jobs with no chunks left to hand out leave the queue; their owners finish them.
        if (job->next.load() >= job->chunks) {
          queue_.pop_front();
          continue;
        }
      }
      job->work();
    }
  }

  int threads_;
  std::vector<std::thread> workers_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
};

int defaultThreads() {
  if (const char* env = std::getenv("TFE_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return std::min(n, 1024);  // setNumThreads's bound
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

std::mutex g_poolMutex;
std::shared_ptr<Pool> g_pool;

std::shared_ptr<Pool> pool() {
  std::lock_guard<std::mutex> g(g_poolMutex);
  if (!g_pool) g_pool = std::make_shared<Pool>(defaultThreads());
  return g_pool;
}

}  // namespace

void parallelFor(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  auto p = pool();
  int64_t n = end - begin;
  int64_t chunks = std::min<int64_t>(p->threads(), (n + std::max<int64_t>(grain, 1) - 1) / std::max<int64_t>(grain, 1));
  if (chunks <= 1) {
    fn(begin, end);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;
  job->begin = begin;
  job->end = end;
  job->chunks = chunks;
  p->run(job);
}

void parallelForEach(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  auto p = pool();
  if (n == 1 || p->threads() == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::function<void(int64_t, int64_t)> each = [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(i);
  };
  auto job = std::make_shared<Job>();
  job->fn = &each;
  job->begin = 0;
  job->end = n;
  job->chunks = n;
  p->run(job);
}

int numThreads() { return pool()->threads(); }

void setNumThreads(int n) {
  if (n < 1) n = 1;
  std::lock_guard<std::mutex> g(g_poolMutex);
  g_pool = std::make_shared<Pool>(n);
}

}  // namespace tfe
