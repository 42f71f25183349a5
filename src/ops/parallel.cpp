#include "convlab/ops/parallel.h"

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
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::work_on_current_job() {
  for (;;) {
    int64_t task;
    const std::function<void(int64_t)>* job;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!job_ || next_ >= tasks_) return;
      task = next_++;
      job = job_;
    }
    (*job)(task);
    bool all_done;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      all_done = ++finished_ == tasks_;
    }
    if (all_done) done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
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
    work_on_current_job();
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
    next_ = 0;
    finished_ = 0;
    ++generation_;
  }
  wake_.notify_all();
  {
    PoolScope serial(nullptr);
    work_on_current_job();
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

}  // namespace convlab
