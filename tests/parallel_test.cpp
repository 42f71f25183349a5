// Threads change speed, never numbers: kernels and whole training runs are bit-identical at 1, 2
// and 3 threads.
#include <gtest/gtest.h>

#include "test_util.h"

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "convlab/data/dataset.h"
#include "convlab/error.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/train/trainer.h"

using namespace convlab;
using test::random_tensor;
using test::same_bits;

namespace {

// Every kernel's outputs for one fixed problem, run under `threads` threads.
std::vector<Tensor> run_kernels(int threads) {
  ThreadPool pool(threads);
  PoolScope scope(&pool);
  std::mt19937 rng(11);
  const Tensor x = random_tensor({13, 3, 17, 15}, rng), w = random_tensor({8, 3, 3, 3}, rng);
  const Tensor b = random_tensor({8}, rng);
  const auto g = conv2d_geometry(x.shape(), w.shape(), 1, 1, 1, 1, "test");
  Tensor y(g.output_shape()), gy = random_tensor(g.output_shape(), rng), gx(x.shape()),
                              gw(w.shape()), gb({8});
  kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
  kernels::conv2d_backward(g, x.data(), w.data(), gy.data(), gx.data(), gw.data(), gb.data());
  const Tensor lx = random_tensor({13, 600}, rng), lw = random_tensor({70, 600}, rng),
               lb = random_tensor({70}, rng);
  Tensor ly({13, 70}), lgy = random_tensor({13, 70}, rng), lgx({13, 600}), lgw({70, 600}),
                       lgb({70});
  kernels::linear_forward(13, 600, 70, lx.data(), lw.data(), lb.data(), ly.data());
  kernels::linear_backward(13, 600, 70, lx.data(), lw.data(), lgy.data(), lgx.data(), lgw.data(),
                           lgb.data());
  const auto pg = pool2d_geometry(y.shape(), 2, 2, 2, 2, 0, 0, "test");
  Tensor py(pg.output_shape()), pgx(y.shape());
  kernels::max_pool2d_forward(pg, y.data(), py.data());
  kernels::max_pool2d_backward(pg, y.data(), py.data(), pgx.data());
  Tensor ry(y.shape());
  kernels::relu_forward(y.numel(), y.data(), ry.data());
  // The fused convolution -> ReLU -> 2x2 max pool, forward and backward.
  const kernels::ConvFusion f{true, true};
  Tensor fy({13, 8, 8, 7}), fgy = random_tensor(fy.shape(), rng), fgx(x.shape()), fgw(w.shape()),
                            fgb({8});
  std::vector<uint8_t> arg(static_cast<size_t>(fy.numel()));
  kernels::conv2d_forward_fused(g, f, x.data(), w.data(), b.data(), fy.data(), arg.data());
  kernels::conv2d_backward_fused(g, f, x.data(), w.data(), fy.data(), arg.data(), fgy.data(),
                                 fgx.data(), fgw.data(), fgb.data());
  return {y, gx, gw, gb, ly, lgx, lgw, lgb, py, pgx, ry, fy, fgx, fgw, fgb};
}

}  // namespace

TEST(Parallel, EveryTaskRunsOnceAndNestedCallsAreSerial) {
  ThreadPool pool(3);
  PoolScope scope(&pool);
  std::vector<std::atomic<int>> hits(1000);
  parallel_for(1000, [&](int64_t i) {
    hits[static_cast<size_t>(i)]++;
    parallel_for(2, [&](int64_t) {});  // inside a task: runs serially, no deadlock
  });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  EXPECT_THROW(ThreadPool pool0(0), Error);
}

// Jobs back to back, of 2 to 40 tasks (shares claimed and taken from by other threads), at 2, 3
// and 8 threads: every task of every job runs once, in that job, and each job's writes are seen
// by its caller when run() returns (a worker still looking for work in one job must never run a
// task of the next with the first job's function).
TEST(Parallel, BackToBackJobsRunEachTaskOnceInTheirOwnJob) {
  for (int threads : {2, 3, 8}) {
    ThreadPool pool(threads);
    PoolScope scope(&pool);
    std::vector<int> last(40);
    std::vector<std::atomic<int>> runs(40);
    for (int job = 0; job < 20000; ++job) {
      const int64_t tasks = 2 + job % 39;
      parallel_for(tasks, [&, job](int64_t t) {
        // A plain write: seen by the caller only if run() publishes its job's writes.
        last[static_cast<size_t>(t)] = job;
        runs[static_cast<size_t>(t)].fetch_add(1, std::memory_order_relaxed);
      });
      for (int64_t t = 0; t < tasks; ++t) {
        ASSERT_EQ(last[static_cast<size_t>(t)], job)
            << "task " << t << ", " << threads << " threads";
        ASSERT_EQ(runs[static_cast<size_t>(t)].exchange(0), 1)
            << "job " << job << " task " << t << ", " << threads << " threads";
      }
    }
  }
}

// A task that throws ends its job: the exception reaches parallel_for's caller (from whichever
// thread ran the task), no task starts after the pool has seen it, and the pool runs the next
// job whole.
TEST(Parallel, AThrowingTaskEndsItsJobAndReachesTheCaller) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    PoolScope scope(&pool);
    for (int64_t bad : {0, 37, 99}) {
      std::atomic<int> ran{0};
      try {
        parallel_for(100, [&](int64_t t) {
          ran.fetch_add(1);
          if (t == bad) throw ValueError("task " + std::to_string(t) + " failed");
        });
        ADD_FAILURE() << "no exception, " << threads << " threads";
      } catch (const ValueError& e) {
        EXPECT_EQ(std::string(e.what()), "task " + std::to_string(bad) + " failed");
      }
      EXPECT_GE(ran.load(), 1);
      EXPECT_LE(ran.load(), 100);
      std::vector<std::atomic<int>> runs(50);
      parallel_for(50, [&](int64_t t) { runs[static_cast<size_t>(t)].fetch_add(1); });
      for (auto& r : runs) EXPECT_EQ(r.load(), 1) << threads << " threads, after task " << bad;
    }
  }
}

// Two threads sharing one pool (Python threads calling forward at once) take turns: each job runs
// every task once, for its own caller.
TEST(Parallel, CallersOnTwoThreadsTakeTurns) {
  ThreadPool pool(3);
  std::vector<std::vector<int>> counts(2, std::vector<int>(30));
  std::vector<std::thread> callers;
  for (int c = 0; c < 2; ++c)
    callers.emplace_back([&pool, &counts, c] {
      PoolScope scope(&pool);
      for (int job = 0; job < 2000; ++job)
        parallel_for(30,
                     [&](int64_t t) { counts[static_cast<size_t>(c)][static_cast<size_t>(t)]++; });
    });
  for (auto& t : callers) t.join();
  for (const auto& per_caller : counts)
    for (int n : per_caller) EXPECT_EQ(n, 2000);
}

TEST(Parallel, KernelsAreBitIdenticalAtAnyThreadCount) {
  const auto one = run_kernels(1);
  for (int t : {2, 3}) {
    const auto many = run_kernels(t);
    for (size_t i = 0; i < one.size(); ++i)
      EXPECT_TRUE(same_bits(one[i], many[i])) << "output " << i << ", " << t;
  }
}

TEST(Parallel, TrainingIsBitIdenticalAtOneAndTwoThreads) {
  data::Dataset d =
      data::load_cifar10(std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin", false);
  train::Recipe r;
  r.epochs = 2;
  r.batch_size = 64;
  train::Trainer a(r, d, d, 1), b(r, d, d, 2);
  a.fit("");
  b.fit("");
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(a.history()[e].loss, b.history()[e].loss);
  const auto ca = a.checkpoint(), cb = b.checkpoint();
  for (const auto& [name, t] : ca.tensors) EXPECT_TRUE(same_bits(t, cb.tensors.at(name))) << name;
}

TEST(Parallel, ResidualBatchNormDropoutAugmentedTrainingIsBitIdenticalAtAnyThreadCount) {
  // Every new piece at once: BatchNorm (running statistics too), Residual with a projection,
  // Dropout masks and crop/flip draws from the run's generator, a cosine schedule, AdamW.
  const std::string model =
      (std::filesystem::temp_directory_path() / ("convlab_resbn_" + std::to_string(::getpid())))
          .string();
  std::ofstream(model) << "Sequential(\n"
                          "  (0): Conv2d(3, 8, kernel_size=3, stride=2, padding=1, bias=False)\n"
                          "  (1): BatchNorm2d(8)\n"
                          "  (2): ReLU()\n"
                          "  (3): Residual(\n"
                          "    (body): Sequential(\n"
                          "      (0): Conv2d(8, 12, 3, stride=2, padding=1, bias=False)\n"
                          "      (1): BatchNorm2d(12)\n"
                          "    )\n"
                          "    (shortcut): Sequential(\n"
                          "      (0): Conv2d(8, 12, 1, stride=2, bias=False)\n"
                          "      (1): BatchNorm2d(12)\n"
                          "    )\n"
                          "  )\n"
                          "  (4): LeakyReLU(0.1)\n"
                          "  (5): AvgPool2d(2)\n"
                          "  (6): Flatten()\n"
                          "  (7): Dropout(0.3)\n"
                          "  (8): Linear(192, 10)\n"
                          ")\n";
  data::Dataset d =
      data::load_cifar10(std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin", false);
  train::Recipe r;
  r.model = model;
  r.epochs = 2;
  r.batch_size = 50;  // 517 images: a partial last batch
  r.optimizer = "adamw";
  r.weight_decay = 0.01;
  r.augment = "crop,flip";
  r.normalize = "0.5,0.5,0.5/0.25,0.25,0.25";
  r.schedule = "cosine";
  std::vector<train::Checkpoint> runs;
  std::vector<double> losses;
  for (int threads : {1, 2, 3}) {
    train::Trainer t(r, d, d, threads);
    t.fit("");
    losses.push_back(t.history().back().loss);
    runs.push_back(t.checkpoint());
  }
  std::filesystem::remove(model);
  for (size_t k = 1; k < runs.size(); ++k) {
    EXPECT_EQ(losses[k], losses[0]);
    ASSERT_EQ(runs[k].tensors.size(), runs[0].tensors.size());
    for (const auto& [name, t] : runs[0].tensors)
      EXPECT_TRUE(same_bits(t, runs[k].tensors.at(name))) << name << " at " << k + 1 << " threads";
    EXPECT_EQ(runs[k].header["generator"], runs[0].header["generator"]);
  }
  EXPECT_TRUE(runs[0].tensors.count("model.1.running_mean"));
  EXPECT_TRUE(runs[0].tensors.count("model.3.shortcut.1.num_batches_tracked"));
}

TEST(Parallel, ResumeWithAugmentationDropoutBatchNormAndScheduleIsBitIdentical) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("convlab_resume_new_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "m.txt")
      << "Conv2d(3, 8, 3, stride=2, padding=1, bias=False)\nBatchNorm2d(8)\n"
         "ReLU()\nAvgPool2d(2)\nFlatten()\nDropout(0.3)\nLinear(512, 10)\n";
  data::Dataset d =
      data::load_cifar10(std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin", false);
  train::Recipe r;
  r.model = (dir / "m.txt").string();
  r.epochs = 3;
  r.batch_size = 64;
  r.optimizer = "adamw";
  r.augment = "crop,flip";
  r.schedule = "cosine";
  train::Trainer whole(r, d, d, 2);
  whole.fit((dir / "whole").string());
  r.epochs = 1;
  train::Trainer first(r, d, d, 1);
  first.fit((dir / "split").string());
  auto rest = train::Trainer::resume((dir / "split" / "checkpoint.bin").string(), d, d, 3, 2);
  rest->fit((dir / "split").string());
  const auto a = whole.checkpoint(), b = rest->checkpoint();
  for (const auto& [name, t] : a.tensors) EXPECT_TRUE(same_bits(t, b.tensors.at(name))) << name;
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(whole.history()[e].loss, rest->history()[e].loss) << e;
    EXPECT_EQ(whole.history()[e].lr, rest->history()[e].lr) << e;
  }
  fs::remove_all(dir);
}
