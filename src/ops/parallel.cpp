#include "convlab/ops/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include "convlab/error.h"

namespace convlab {

namespace {
thread_local ThreadPool* active_pool = nullptr;
}

ThreadPool::ThreadPool(int threads) {
  if (threads < 1 || threads > 256)
    throw ValueError("thread count must be between 1 and 256; got " + std::to_string(threads));
  lo_.assign(static_cast<size_t>(threads), 0);
  hi_.assign(static_cast<size_t>(threads), 0);
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

void ThreadPool::work_on_current_job(int self) {
  const size_t me = static_cast<size_t>(self);
  for (;;) {
    int64_t task, tasks;
    const std::function<void(int64_t)>* job;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!job_) return;
      tasks = tasks_;
      if (lo_[me] < hi_[me]) {
        task = lo_[me]++;
      } else {
        size_t victim = me;
        for (size_t q = 0; q < lo_.size(); ++q)
          if (hi_[q] - lo_[q] > (victim == me ? 0 : hi_[victim] - lo_[victim])) victim = q;
        if (victim == me) return;
        task = --hi_[victim];
      }
      job = job_;
    }
    (*job)(task);
    // Counted without the mutex (one hand-off per task, not two); only the last task takes it,
    // so that run() cannot miss the notification between its test and its wait.
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      done_.notify_all();
    }
  }
}

void ThreadPool::worker_loop(int self) {
  uint64_t seen = 0;
  for (;;) {
    // Poll for a bounded time before sleeping: waking a sleeping thread costs tens of
    // microseconds, about as long as one kernel of a training step.
    const auto spin_until =
        std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicroseconds);
    while (generation_.load(std::memory_order_acquire) == seen &&
           std::chrono::steady_clock::now() < spin_until) {
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    PoolScope serial(nullptr);  // kernels called inside a task run serially
    work_on_current_job(self);
  }
}

void ThreadPool::run(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  if (workers_.empty() || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(t);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    tasks_ = tasks;
    const int64_t threads = static_cast<int64_t>(lo_.size());
    for (int64_t i = 0; i < threads; ++i) {  // contiguous, near-equal shares
      lo_[static_cast<size_t>(i)] = tasks * i / threads;
      hi_[static_cast<size_t>(i)] = tasks * (i + 1) / threads;
    }
    finished_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  {
    PoolScope serial(nullptr);
    work_on_current_job(0);
  }
  const auto spin_until =
      std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicroseconds);
  while (finished_.load(std::memory_order_acquire) != tasks &&
         std::chrono::steady_clock::now() < spin_until) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return finished_ == tasks_; });
  job_ = nullptr;
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
