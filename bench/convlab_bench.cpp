// convlab's side of bench/run.sh. Each mode prints one JSON object on stdout.
//   train --model standard|sumfirst --threads T [--images 50000] [--batch 64]
//   infer --model standard|sumfirst --threads T [--images 10000] [--batch 64]
//   train-dp --threads T [--chunk 16] [...]   the train epoch data-parallel (under mpirun: shared)
//   layers --model M --threads T [--input C,H,W] [--batch 64]   each Conv2d/Linear alone: ms, MACs
//   (train, infer and layers take --input C,H,W: the synthetic images' shape, 3,32,32 by default)
//   fma   --threads T          achieved GFLOP/s of a pure FMA loop: the machine's practical peak
//   micro [google benchmark flags]   single-kernel microbenchmarks (Google Benchmark)
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <immintrin.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "convlab/data/dataloader.h"
#include "convlab/nn/loss.h"
#include "convlab/nn/models.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "convlab/optim/optimizer.h"
#include "convlab/train/communicator.h"
#include "convlab/train/data_parallel.h"

using namespace convlab;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string model = "standard";
  int64_t channels = 3, height = 32, width = 32;
  int threads = 1;
  int64_t images = 50000, batch = 64, chunk = 16;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--model")
      a.model = v;
    else if (k == "--threads")
      a.threads = std::stoi(v);
    else if (k == "--images")
      a.images = std::stoll(v);
    else if (k == "--batch")
      a.batch = std::stoll(v);
    else if (k == "--chunk")
      a.chunk = std::stoll(v);
    else if (k == "--input" &&
             std::sscanf(v.c_str(), "%ld,%ld,%ld", &a.channels, &a.height, &a.width) != 3)
      throw std::invalid_argument("--input takes C,H,W");
  }
  return a;
}

// Synthetic images (CIFAR-shaped unless --input says otherwise): random bytes and labels from a
// fixed seed.
data::Dataset synthetic(const Args& a, int64_t n) {
  data::Dataset d;
  d.name = "synthetic";
  d.channels = a.channels;
  d.height = a.height;
  d.width = a.width;
  d.classes = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  std::mt19937 rng(1);
  d.images.resize(static_cast<size_t>(n * a.channels * a.height * a.width));
  for (auto& b : d.images) b = static_cast<uint8_t>(rng());
  d.labels.resize(static_cast<size_t>(n));
  for (auto& l : d.labels) l = static_cast<uint8_t>(rng() % 10);
  return d;
}

long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

int64_t parameter_count(nn::Sequential& model) {
  int64_t n = 0;
  for (const nn::Parameter* p : model.parameters()) n += p->value.numel();
  return n;
}

int train_epoch(const Args& a) {
  const data::Dataset ds = synthetic(a, a.images);
  Generator gen(0);
  auto model = nn::build_model(a.model, gen);
  model->set_fusion(true);
  optim::Adam opt(model->parameters(), optim::AdamOptions{.lr = 1e-3});
  nn::CrossEntropyLoss criterion;
  data::DataLoader loader(ds, a.batch, true, &gen);
  ThreadPool pool(a.threads);
  PoolScope scope(&pool);
  Tensor x, grad;
  std::vector<int64_t> y;
  loader.start_epoch();
  const auto t0 = Clock::now();
  long faults_after_first = 0;
  int64_t seen = 0, batches = 0;
  double loss_sum = 0;
  // Seconds spent in each phase of a step, summed over the epoch: where the time goes.
  double t_data = 0, t_forward = 0, t_backward = 0, t_step = 0;
  auto lap = [](Clock::time_point& t) {
    const auto now = Clock::now();
    const double s = std::chrono::duration<double>(now - t).count();
    t = now;
    return s;
  };
  auto t = Clock::now();
  while (loader.next(x, y)) {
    t_data += lap(t);
    opt.zero_grad();
    loss_sum += criterion.forward(model->forward(x), y);
    t_forward += lap(t);
    criterion.backward(grad);
    model->backward(grad);
    t_backward += lap(t);
    opt.step();
    t_step += lap(t);
    seen += x.size(0);
    if (++batches == 1) faults_after_first = minor_faults();
  }
  const double per_step_ms = 1e3 / static_cast<double>(batches);
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%s\n", nlohmann::json{{"lib", "convlab"},
                                     {"mode", "train"},
                                     {"model", a.model},
                                     {"threads", a.threads},
                                     {"images", seen},
                                     {"seconds", s},
                                     {"images_per_second", static_cast<double>(seen) / s},
                                     {"mean_loss", loss_sum / static_cast<double>(batches)},
                                     {"parameters", parameter_count(*model)},
                                     {"ms_per_step",
                                      {{"data", t_data * per_step_ms},
                                       {"zero_grad_forward_loss", t_forward * per_step_ms},
                                       {"backward", t_backward * per_step_ms},
                                       {"optimizer", t_step * per_step_ms}}},
                                     {"minor_faults_after_first_batch",
                                      minor_faults() - faults_after_first},
                                     {"peak_rss_mb", peak_rss_mb()}}
                          .dump()
                          .c_str());
  return 0;
}

int infer(const Args& a) {
  const data::Dataset ds = synthetic(a, a.images);
  Generator gen(0);
  auto model = nn::build_model(a.model, gen);
  model->eval();
  nn::InferenceScope inference(*model);
  data::DataLoader loader(ds, a.batch, false);
  ThreadPool pool(a.threads);
  PoolScope scope(&pool);
  Tensor x;
  std::vector<int64_t> y;
  loader.start_epoch();
  const auto t0 = Clock::now();
  int64_t seen = 0;
  double checksum = 0;
  while (loader.next(x, y)) {
    checksum += model->forward(x).data()[0];
    seen += x.size(0);
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%s\n", nlohmann::json{{"lib", "convlab"},
                                     {"mode", "infer"},
                                     {"model", a.model},
                                     {"threads", a.threads},
                                     {"images", seen},
                                     {"seconds", s},
                                     {"images_per_second", static_cast<double>(seen) / s},
                                     {"checksum", checksum}}
                          .dump()
                          .c_str());
  return 0;
}

// 12 independent FMA chains on 16-float vectors: limited by FMA throughput, not latency.
__attribute__((target("avx512f"))) double fma_loop_avx512(int64_t iters) {
  __m512 acc[12];
  for (auto& v : acc) v = _mm512_set1_ps(1.0f);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i)
    for (auto& v : acc) v = _mm512_fmadd_ps(v, a, b);
  float sum = 0, lanes[16];
  for (auto& v : acc) {
    _mm512_storeu_ps(lanes, v);
    for (float l : lanes) sum += l;
  }
  return sum;
}

int fma(const Args& a) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  if (!avx512) {
    std::printf("%s\n", nlohmann::json{{"lib", "machine"}, {"mode", "fma"}, {"error", "no AVX-512"}}
                            .dump()
                            .c_str());
    return 0;
  }
  // Five rounds of about 0.2 s: the median round (the single run this had been) and the fastest,
  // the peak of a quiet stretch (this host's neighbours slow it for seconds at a time).
  constexpr int kRounds = 5;
  const int64_t iters = 100'000'000;
  std::vector<double> gflops;
  std::vector<double> sink(static_cast<size_t>(a.threads));
  for (int r = 0; r < kRounds; ++r) {
    const auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < a.threads; ++t)
      ts.emplace_back([&, t] { sink[static_cast<size_t>(t)] = fma_loop_avx512(iters); });
    for (auto& t : ts) t.join();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    gflops.push_back(2.0 * 16 * 12 * static_cast<double>(iters) * a.threads / s / 1e9);
  }
  std::sort(gflops.begin(), gflops.end());
  std::printf("%s\n", nlohmann::json{{"lib", "machine"},
                                     {"mode", "fma"},
                                     {"threads", a.threads},
                                     {"gflops", gflops[kRounds / 2]},
                                     {"gflops_best", gflops.back()},
                                     {"sink", sink[0]}}
                          .dump()
                          .c_str());
  return 0;
}

// ---- microbenchmarks: one kernel at batch 64 ----

Tensor filled(const Shape& s) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d;
  Tensor t(s);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = d(rng);
  return t;
}

void conv(benchmark::State& st, int64_t cin, int64_t cout, bool backward) {
  ThreadPool pool(static_cast<int>(st.range(0)));
  PoolScope scope(&pool);
  const Tensor x = filled({64, cin, 32, 32}), w = filled({cout, cin, 3, 3}), b = filled({cout});
  const auto g = conv2d_geometry(x.shape(), w.shape(), 1, 1, 1, 1, "bench");
  Tensor y(g.output_shape()), gy = filled(g.output_shape()), gx(x.shape()), gw(w.shape()),
                              gb({cout});
  for (auto _ : st) {
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), y.data());
    if (backward)
      kernels::conv2d_backward(g, x.data(), w.data(), gy.data(), gx.data(), gw.data(), gb.data());
    benchmark::DoNotOptimize(y.data());
  }
}

// The backward pass alone, split: parameter gradients only, or the input gradient only.
void conv_backward_part(benchmark::State& st, int64_t cin, int64_t cout, bool input_grad) {
  ThreadPool pool(static_cast<int>(st.range(0)));
  PoolScope scope(&pool);
  const Tensor x = filled({64, cin, 32, 32}), w = filled({cout, cin, 3, 3});
  const auto g = conv2d_geometry(x.shape(), w.shape(), 1, 1, 1, 1, "bench");
  Tensor gy = filled(g.output_shape()), gx(x.shape()), gw(w.shape()), gb({cout});
  for (auto _ : st) {
    if (input_grad)
      kernels::conv2d_backward(g, x.data(), w.data(), gy.data(), gx.data(), nullptr, nullptr);
    else
      kernels::conv2d_backward(g, x.data(), w.data(), gy.data(), nullptr, gw.data(), gb.data());
    benchmark::DoNotOptimize(gw.data());
  }
}

// Max pooling forward and backward: the notebook's 2x2 stride 2 on 16 channels, or a ResNet
// stem's 3x3 stride 2 padding 1 on 64 channels (the zoo's stem7).
void maxpool(benchmark::State& st, int64_t C, int64_t k, int64_t s, int64_t p) {
  ThreadPool pool(static_cast<int>(st.range(0)));
  PoolScope scope(&pool);
  const Tensor x = filled({64, C, 32, 32});
  const auto g = pool2d_geometry(x.shape(), k, k, s, s, p, p, "bench");
  Tensor y(g.output_shape()), gx(x.shape());
  for (auto _ : st) {
    kernels::max_pool2d_forward(g, x.data(), y.data());
    kernels::max_pool2d_backward(g, x.data(), y.data(), gx.data());
  }
}

// BatchNorm2d with a fused ReLU on ResNet-20's first stage (64 x 16 x 32 x 32) or stem7's three
// (64 x 64 x 32 x 32, 64 x 128 x 16 x 16, 64 x 256 x 8 x 8), training mode: the statistics and the
// normalisation, then the backward pass.
void batchnorm(benchmark::State& st, int64_t C, int64_t L, bool backward) {
  ThreadPool pool(static_cast<int>(st.range(0)));
  PoolScope scope(&pool);
  constexpr int64_t N = 64;
  const Tensor x = filled({N, C, L}), gamma = filled({C}), beta = filled({C}),
               gy = filled({N, C, L});
  Tensor y({N, C, L}), gx({N, C, L}), ggamma({C}), gbeta({C});
  std::vector<double> mean(C), var(C), invstd(C);
  kernels::batch_norm_statistics(N, C, L, x.data(), mean.data(), var.data());
  for (int64_t c = 0; c < C; ++c) invstd[c] = 1.0 / std::sqrt(var[c] + 1e-5);
  kernels::batch_norm_normalize(N, C, L, x.data(), mean.data(), invstd.data(), gamma.data(),
                                beta.data(), true, y.data());
  for (auto _ : st) {
    if (backward) {
      kernels::batch_norm_backward(N, C, L, x.data(), mean.data(), invstd.data(), gamma.data(),
                                   beta.data(), gy.data(), true, true, gx.data(), ggamma.data(),
                                   gbeta.data());
    } else {
      kernels::batch_norm_forward_batch(N, C, L, x.data(), 1e-5, gamma.data(), beta.data(), true,
                                        mean.data(), var.data(), invstd.data(), y.data());
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::DoNotOptimize(gx.data());
  }
}

// One optimizer step over the notebook's Linear(4096, 64) weights (262,144), momentum / Adam state
// as after a thousand steps. "stopped": the weights of a third of the units (rows 0-20 of 64) have
// a zero gradient and a subnormal momentum buffer or exp_avg (units that stopped firing: their
// state decays by the momentum a step to the subnormals and stays there), the rest as in "live".
// torch_bench.py's micro builds the same state.
void optimizer_step(benchmark::State& st, bool adam, bool stopped) {
  ThreadPool pool(static_cast<int>(st.range(0)));
  PoolScope scope(&pool);
  constexpr int64_t n = 4096 * 64;
  Tensor w = filled({n}), g = filled({n}), buf = filled({n}), sq({n});
  for (int64_t k = 0; k < n; ++k) {
    w.data()[k] *= 0.05f;
    buf.data()[k] *= 1e-3f;
    sq.data()[k] = 1e-8f;
    if (stopped && k < 21 * 4096) {
      g.data()[k] = 0.0f;
      buf.data()[k] = (k % 2 ? -1e-40f : 1e-40f) * static_cast<float>(1 + k % 7);  // subnormal
    } else {
      g.data()[k] *= 1e-3f;
    }
  }
  nn::Parameter p{"weight", w, g};
  std::unique_ptr<optim::Optimizer> opt;
  if (adam) {
    opt = std::make_unique<optim::Adam>(std::vector<nn::Parameter*>{&p}, optim::AdamOptions{});
    opt->load_state_tensors({{"step", Tensor({1}, std::vector<float>{1000})},
                             {"0.exp_avg", buf},
                             {"0.exp_avg_sq", sq}});
  } else {
    opt = std::make_unique<optim::SGD>(std::vector<nn::Parameter*>{&p},
                                       optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
    opt->load_state_tensors(
        {{"step", Tensor({1}, std::vector<float>{1000})}, {"0.momentum_buffer", buf}});
  }
  for (auto _ : st) {
    opt->step();
    benchmark::DoNotOptimize(p.value.data());
  }
}

void linear(benchmark::State& st) {
  ThreadPool pool(static_cast<int>(st.range(0)));
  PoolScope scope(&pool);
  const Tensor x = filled({64, 4096}), w = filled({64, 4096}), b = filled({64}),
               gy = filled({64, 64});
  Tensor y({64, 64}), gx({64, 4096}), gw({64, 4096}), gb({64});
  for (auto _ : st) {
    kernels::linear_forward(64, 4096, 64, x.data(), w.data(), b.data(), y.data());
    kernels::linear_backward(64, 4096, 64, x.data(), w.data(), gy.data(), gx.data(), gw.data(),
                             gb.data());
  }
}

}  // namespace

BENCHMARK_CAPTURE(conv, conv_3_8_forward, 3, 8, false)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, conv_3_8_forward_backward, 3, 8, true)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, conv_8_16_forward, 8, 16, false)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv, conv_8_16_forward_backward, 8, 16, true)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_backward_part, conv_8_16_weight_grad, 8, 16, false)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(conv_backward_part, conv_8_16_input_grad, 8, 16, true)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(maxpool, maxpool_2x2, 16, 2, 2, 0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(maxpool, maxpool_3x3_stride2_pad1, 64, 3, 2, 1)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(batchnorm, batchnorm_forward, 16, 1024, false)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(batchnorm, batchnorm_backward, 16, 1024, true)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
// stem7's three, 1 thread: batchnorm/batchnorm_<C>x<H>x<W>_{forward,backward}
const bool stem7_batchnorms = [] {
  for (auto [C, side] : {std::pair<int64_t, int64_t>{64, 32}, {128, 16}, {256, 8}})
    for (bool backward : {false, true}) {
      const std::string name = "batchnorm/batchnorm_" + std::to_string(C) + "x" +
                               std::to_string(side) + "x" + std::to_string(side) +
                               (backward ? "_backward" : "_forward");
      benchmark::RegisterBenchmark(name.c_str(), batchnorm, C, side * side, backward)
          ->Arg(1)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  return true;
}();
BENCHMARK(linear)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
// optimizer_step/{sgd,adam}_{live,stopped}/<threads>
const bool optimizer_steps = [] {
  for (bool adam : {false, true})
    for (bool stopped : {false, true}) {
      const std::string name = std::string("optimizer_step/") + (adam ? "adam" : "sgd") +
                               (stopped ? "_stopped" : "_live");
      benchmark::RegisterBenchmark(name.c_str(), optimizer_step, adam, stopped)
          ->Arg(1)
          ->Arg(2)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  return true;
}();

// Data-parallel training (train/data_parallel.h): one process, or each of `mpirun -np N`'s, the
// same epoch as `train` in chunks of --chunk images. Process 0 prints images/s and where a step's
// time went; all processes compute the same numbers, so their losses agree.
int train_dp(const Args& a) {
  std::unique_ptr<train::Communicator> comm = train::launched_by_mpirun()
                                                  ? train::join_mpi_job()
                                                  : std::make_unique<train::SingleProcess>();
  const data::Dataset ds = synthetic(a, a.images);
  Generator gen(0);
  auto model = nn::build_model(a.model, gen);
  model->set_fusion(true);
  model->train();
  optim::Adam opt(model->parameters(), optim::AdamOptions{.lr = 1e-3});
  data::DataLoader loader(ds, a.batch, true, &gen);
  ThreadPool pool(a.threads);
  PoolScope scope(&pool);
  train::DataParallelStep step(*model, *comm, a.chunk);
  if (comm->size() > 1)
    loader.only_rows(
        [&](int64_t rows) { return train::owned_rows(rows, a.chunk, comm->rank(), comm->size()); });
  Tensor x;
  std::vector<int64_t> y;
  loader.start_epoch();
  const auto t0 = Clock::now();
  int64_t seen = 0;
  double loss_sum = 0;
  while (loader.next(x, y)) {
    loss_sum += step.compute(x, y, gen);
    opt.step();
    seen += x.size(0);
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto& t = step.times();
  const double per_step_ms = 1e3 / static_cast<double>(t.steps);
  if (comm->rank() == 0 || std::getenv("CONVLAB_BENCH_ALL_RANKS"))
    std::printf("%s\n", nlohmann::json{{"lib", "convlab"},
                                       {"mode", "train-dp"},
                                       {"model", a.model},
                                       {"processes", comm->size()},
                                       {"threads", a.threads},
                                       {"chunk", a.chunk},
                                       {"images", seen},
                                       {"seconds", s},
                                       {"images_per_second", static_cast<double>(seen) / s},
                                       {"mean_loss", loss_sum / static_cast<double>(t.steps)},
                                       {"ms_per_step",
                                        {{"chunks", t.chunks * per_step_ms},
                                         {"exchange", t.exchange * per_step_ms},
                                         {"combine", t.combine * per_step_ms}}}}
                            .dump()
                            .c_str());
  return 0;
}

// Each Conv2d and Linear of a network alone, at the input shape it sees in the network (found by
// one forward pass with hooks): median milliseconds of forward, and of forward + backward (weight,
// bias and, past the first layer, input gradients) over all its calls and in its fastest window,
// and the multiply-adds of one image's forward.
// What the zoo's per-layer table compares with PyTorch's layers, by their dotted names.
int layers(const Args& a) {
  Generator gen(0);
  auto model = nn::build_model(a.model, gen);
  model->train();
  ThreadPool pool(a.threads);
  PoolScope scope(&pool);
  std::vector<nn::NamedModule> timed;
  std::map<nn::Module*, Shape> input_shape;
  for (const nn::NamedModule& m : nn::named_modules(*model)) {
    const std::string type = m.module->type_name();
    if (type != "Conv2d" && type != "Linear") continue;
    timed.push_back(m);
    m.module->set_forward_hook([&input_shape, mod = m.module](const Tensor& in, const Tensor&) {
      input_shape[mod] = in.shape();
    });
  }
  model->forward(filled({a.batch, a.channels, a.height, a.width}));
  for (const nn::NamedModule& m : timed) m.module->set_forward_hook({});
  // Milliseconds of each call of fn: at least 5 and at least `seconds` of them, after 2 warm-ups.
  auto times_ms = [](const std::function<void()>& fn, double seconds) {
    for (int i = 0; i < 2; ++i) fn();
    std::vector<double> ms;
    const auto start = Clock::now();
    while (ms.size() < 5 || std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
      const auto t0 = Clock::now();
      fn();
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return ms;
  };
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  // Forward + backward in kWindows windows of 0.15 s, each layer's windows a round apart (this
  // host's neighbours slow a stretch of seconds at a time): the median of all the calls, and the
  // fastest window's median. The forward alone in one window of 0.3 s.
  constexpr int kWindows = 3;
  std::vector<double> forward(timed.size());
  std::vector<std::vector<double>> calls(timed.size()), windows(timed.size());
  for (int round = 0; round < kWindows; ++round)
    for (size_t i = 0; i < timed.size(); ++i) {
      nn::Module* mod = timed[i].module;
      const Tensor x = filled(input_shape.at(mod));
      Tensor y, gx;
      mod->forward(x, y);
      const Tensor gy = filled(y.shape());
      if (round == 0) forward[i] = median(times_ms([&] { mod->forward(x, y); }, 0.3));
      const std::vector<double> ms = times_ms(
          [&] {
            mod->forward(x, y);
            // The network's first layer computes no input gradient (nothing needs it), as in
            // training.
            mod->backward(x, y, gy, i == 0 ? nullptr : &gx);
          },
          0.15);
      calls[i].insert(calls[i].end(), ms.begin(), ms.end());
      windows[i].push_back(median(ms));
    }
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < timed.size(); ++i) {
    const nn::NamedModule& m = timed[i];
    const Tensor x = filled(input_shape.at(m.module));
    Tensor y;
    m.module->forward(x, y);
    // Every output element is one dot product over a weight row: weight elements x outputs / out.
    const Tensor& w = m.module->parameters().front()->value;
    const int64_t outputs_per_image = y.numel() / y.size(0);
    const int64_t macs = outputs_per_image * (w.numel() / w.size(0));
    out.push_back({{"name", m.path},
                   {"type", m.module->type_name()},
                   {"input", x.shape()},
                   {"output", y.shape()},
                   {"macs_per_image", macs},
                   {"forward_ms", forward[i]},
                   {"forward_backward_ms", median(calls[i])},
                   {"forward_backward_best_window_ms",
                    *std::min_element(windows[i].begin(), windows[i].end())}});
  }
  std::printf("%s\n", nlohmann::json{{"lib", "convlab"},
                                     {"mode", "layers"},
                                     {"model", a.model},
                                     {"threads", a.threads},
                                     {"batch", a.batch},
                                     {"layers", out}}
                          .dump()
                          .c_str());
  return 0;
}

int run(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "train") return train_epoch(parse(argc, argv));
  if (mode == "train-dp") return train_dp(parse(argc, argv));
  if (mode == "infer") return infer(parse(argc, argv));
  if (mode == "fma") return fma(parse(argc, argv));
  if (mode == "layers") return layers(parse(argc, argv));
  if (mode == "micro") {
    argv[1] = argv[0];
    --argc;
    ++argv;
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    return 0;
  }
  std::fprintf(stderr, "usage: convlab_bench train|infer|layers|fma|micro [options]\n");
  return 2;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a bad flag value or model file: one line, not an abort
    std::fprintf(stderr, "convlab_bench: error: %s\n", e.what());
    return 2;
  }
}
