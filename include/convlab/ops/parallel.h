// Threads for the kernels. A ThreadPool is made active for the calling thread with PoolScope;
// kernels then split their work with parallel_for (which thread runs a task changes speed only).
// The split is fixed by the problem (never by the thread count) and every output element is
// computed by one task in a fixed order, so results are bit-identical at any number of threads. An
// idle worker polls for new work for a bounded time (kSpinMicroseconds: the gaps between the
// kernels of one training step are shorter than a sleeping thread takes to wake) and then sleeps on
// a condition variable, so a machine busy with other work loses at most that much per gap, never a
// spinning core.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace convlab {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads >= 1; the caller counts as one
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs fn(0) .. fn(tasks - 1), each once, across the pool; returns when all are done. If a task
  // throws, no further task starts and the first exception is rethrown here once every thread
  // has left the job (the pool stays usable). Callers on several threads at once (Python threads
  // sharing the module's pool) take turns.
  void run(int64_t tasks, const std::function<void(int64_t)>& fn);

 private:
  static constexpr int kSpinMicroseconds = 50;
  void worker_loop(int self);
  // Runs tasks of the current job until no share has any left.
  void work_on_current_job(int self, const std::function<void(int64_t)>& job);
  bool claim(size_t self, int64_t& task);

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // held by the caller of a job on the workers, for the whole job
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t)>* job_ = nullptr;  // under mutex_
  // Thread i first runs the tasks [lo, hi) of its own share, from the front; a thread whose share
  // is done takes tasks from the back of the largest other share. The same thread thus gets the
  // same images in every kernel of a step while the machine is quiet (they stay in its cache), and
  // a thread slowed by other work is relieved. A share is one word (lo in the low 32 bits, hi in
  // the high) on a cache line of its own, claimed by compare-and-swap: under a mutex, each claim
  // had moved the lock's and the shares' lines between the cores (5 % of a 2-thread 1x1 layer on
  // 7 x 7 planes went to the pool).
  struct alignas(64) Share {
    std::atomic<uint64_t> range{0};
  };
  std::unique_ptr<Share[]> shares_;  // one per thread (threads())
  // Workers inside the current job (joined under mutex_): run() returns only once none is, so that
  // no worker can claim a later job's task for this one.
  std::atomic<int> active_{0};
  std::atomic<uint64_t> generation_{0};  // written under mutex_, polled without it
  std::exception_ptr error_;             // the current job's first, under mutex_
  bool stop_ = false;
};

// Makes `pool` the active pool of this thread for the scope's lifetime (null: serial).
class PoolScope {
 public:
  explicit PoolScope(ThreadPool* pool);
  ~PoolScope();

 private:
  ThreadPool* previous_;
};

// fn(0) .. fn(tasks - 1) on the active pool, or serially if there is none.
void parallel_for(int64_t tasks, const std::function<void(int64_t)>& fn);

// fn(0) .. fn(items - 1) where each item is `item_size` elements of work (a plane, say): items
// share a task up to about 16k elements, so that small items do not cost more in hand-offs
// between threads than in work. Which items share a task depends on the sizes alone.
void parallel_for_items(int64_t items, int64_t item_size, const std::function<void(int64_t)>& fn);

// How many parts to split each image of a batch of `images` into, for kernels that otherwise run
// one image per task: 1 from 8 images up; below, enough for about 8 tasks in all, each of at least
// 2M multiply-adds of the image's `macs` (a task of a few microseconds costs more in hand-offs than
// it saves). The shape's alone, never the thread count's.
int64_t parts_per_image(int64_t images, int64_t macs);

// dst[i] += parts[t * stride + i] for t = 0, 1, .. count - 1 in that order, for every i < size:
// the per-image (or per-group) parts of a parameter gradient summed in a fixed order, so the same
// bits at any thread count; the elements are shared out in fixed blocks.
void add_parts_in_order(float* dst, const float* parts, int64_t count, int64_t stride,
                        int64_t size);

}  // namespace convlab
