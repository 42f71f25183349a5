#include "convlab/ops/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <utility>

#include "convlab/error.h"

namespace convlab {

namespace {

thread_local ThreadPool* active_pool = nullptr;

// Polls `busy` for at most `microseconds` before the caller sleeps on a condition variable:
// waking a sleeping thread costs tens of microseconds, about as long as one kernel of a training
// step.
template <typename Busy>
void poll_while(const Busy& busy, int microseconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(microseconds);
  while (busy() && std::chrono::steady_clock::now() < until) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
}

constexpr uint64_t pack(int64_t lo, int64_t hi) {
  return static_cast<uint64_t>(lo) | static_cast<uint64_t>(hi) << 32;
}
constexpr int64_t low(uint64_t r) {
  return static_cast<int64_t>(r & 0xFFFFFFFFu);
}
constexpr int64_t high(uint64_t r) {
  return static_cast<int64_t>(r >> 32);
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads < 1 || threads > 256)
    throw ValueError("thread count must be between 1 and 256; got " + std::to_string(threads));
  shares_ = std::make_unique<Share[]>(static_cast<size_t>(threads));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

bool ThreadPool::claim(size_t self, int64_t& task) {
  // From the front of this thread's own share ...
  std::atomic<uint64_t>& own = shares_[self].range;
  uint64_t r = own.load(std::memory_order_relaxed);
  while (low(r) < high(r))
    if (own.compare_exchange_weak(r, pack(low(r) + 1, high(r)), std::memory_order_relaxed)) {
      task = low(r);
      return true;
    }
  // ... then from the back of the largest other one, until none has any left.
  for (;;) {
    size_t victim = self;
    int64_t most = 0;
    for (size_t q = 0; q < static_cast<size_t>(threads()); ++q) {
      const uint64_t v = shares_[q].range.load(std::memory_order_relaxed);
      if (high(v) - low(v) > most) most = high(v) - low(v), victim = q;
    }
    if (victim == self) return false;
    std::atomic<uint64_t>& other = shares_[victim].range;
    r = other.load(std::memory_order_relaxed);
    if (low(r) < high(r) &&
        other.compare_exchange_strong(r, pack(low(r), high(r) - 1), std::memory_order_relaxed)) {
      task = high(r) - 1;
      return true;
    }
  }
}

void ThreadPool::work_on_current_job(int self, const std::function<void(int64_t)>& job) {
  PoolScope serial(nullptr);  // kernels called inside a task run serially
  int64_t task;
  while (claim(static_cast<size_t>(self), task)) {
    try {
      job(task);
    } catch (...) {
      // The job's first error ends it: no task starts after it (every share emptied; a claim in
      // flight fails its compare-and-swap and finds none), and run() rethrows it to its caller
      // once no thread is in the job, rather than leaving workers on a function that is gone.
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      for (int q = 0; q < threads(); ++q)
        shares_[static_cast<size_t>(q)].range.store(0, std::memory_order_relaxed);
    }
  }
}

void ThreadPool::worker_loop(int self) {
  uint64_t seen = 0;
  for (;;) {
    poll_while([&] { return generation_.load(std::memory_order_acquire) == seen; },
               kSpinMicroseconds);
    const std::function<void(int64_t)>* job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      job = job_;  // null: that job is over already
      if (job) active_.fetch_add(1, std::memory_order_relaxed);
    }
    if (!job) continue;
    work_on_current_job(self, *job);
    // The tasks' writes published to run(), which reads active_ with acquire; the last one out
    // wakes it (under the mutex, so that it cannot miss the notification between its test and
    // its wait).
    if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      done_.notify_all();
    }
  }
}

void ThreadPool::run(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  // A share's bounds are 32 bits each (no kernel comes near; more runs here, serially).
  if (workers_.empty() || tasks == 1 || tasks >= (int64_t{1} << 31)) {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    return;
  }
  // One job at a time: a second caller waits here (tasks run serially on the pool's threads, so a
  // task's own parallel_for never comes back to this pool).
  std::lock_guard<std::mutex> turn(run_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    const int64_t threads = this->threads();
    for (int64_t i = 0; i < threads; ++i)  // contiguous, near-equal shares
      shares_[static_cast<size_t>(i)].range.store(
          pack(tasks * i / threads, tasks * (i + 1) / threads), std::memory_order_relaxed);
    ++generation_;
  }
  wake_.notify_all();
  work_on_current_job(0, fn);
  // Every task is claimed; wait for the workers still running one (or about to find none).
  poll_while([&] { return active_.load(std::memory_order_acquire) != 0; }, kSpinMicroseconds);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return active_.load(std::memory_order_acquire) == 0; });
    job_ = nullptr;  // workers that wake from here on find no job
    error = std::exchange(error_, nullptr);
  }
  if (error) std::rethrow_exception(error);
}

PoolScope::PoolScope(ThreadPool* pool) : previous_(active_pool) {
  active_pool = pool;
}
PoolScope::~PoolScope() {
  active_pool = previous_;
}

void parallel_for(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (ThreadPool* pool = active_pool) {
    pool->run(tasks, fn);
  } else {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
  }
}

int64_t parts_per_image(int64_t images, int64_t macs) {
  constexpr int64_t kMinTasks = 8, kPartMacs = int64_t{1} << 21;
  return std::clamp<int64_t>(macs / kPartMacs, 1, (kMinTasks + images - 1) / images);
}

void parallel_for_items(int64_t items, int64_t item_size, const std::function<void(int64_t)>& fn) {
  constexpr int64_t kTaskSize = 16384;
  const int64_t per_task = std::max<int64_t>(1, kTaskSize / std::max<int64_t>(1, item_size));
  parallel_for((items + per_task - 1) / per_task, [&](int64_t t) {
    for (int64_t i = t * per_task; i < std::min(items, (t + 1) * per_task); ++i) fn(i);
  });
}

void add_parts_in_order(float* dst, const float* parts, int64_t count, int64_t stride,
                        int64_t size) {
  constexpr int64_t kBlock = 4096;  // floats per task: 16 KiB of dst stays in L1 across the parts
  const int64_t blocks = (size + kBlock - 1) / kBlock;
  auto add_block = [&](int64_t b) {
    const int64_t lo = b * kBlock, hi = std::min(size, lo + kBlock);
    for (int64_t t = 0; t < count; ++t) {
      const float* part = parts + t * stride;
      for (int64_t i = lo; i < hi; ++i) dst[i] += part[i];
    }
  };
  if (count * size < (int64_t{1} << 16)) {  // small: not worth waking the pool
    for (int64_t b = 0; b < blocks; ++b) add_block(b);
    return;
  }
  parallel_for(blocks, add_block);
}

}  // namespace convlab
