// Data-parallel steps in one process: the chunk tree, and chunked gradients against whole-batch
// ones. (Several processes are tested end to end by distributed_test.py under mpirun.)
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "convlab/error.h"
#include "convlab/nn/batchnorm.h"
#include "convlab/nn/loss.h"
#include "convlab/nn/models.h"
#include "convlab/train/data_parallel.h"

using namespace convlab;
using train::DataParallelStep;

namespace {

bool is_tree_node(int64_t lo, int64_t hi, int64_t node_lo, int64_t node_hi) {
  if (lo == node_lo && hi == node_hi) return true;
  if (node_hi - node_lo < 2 || lo < node_lo || hi > node_hi) return false;
  const int64_t mid = node_lo + (node_hi - node_lo) / 2;
  return is_tree_node(lo, hi, node_lo, mid) || is_tree_node(lo, hi, mid, node_hi);
}

const char* kConvNet = R"(Sequential(
  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): ReLU()
  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): Linear(in_features=64, out_features=10, bias=True)
))";

const char* kBatchNormNet = R"(Sequential(
  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): Flatten(start_dim=1, end_dim=-1)
  (4): BatchNorm1d(256, eps=1e-05, momentum=None, affine=True, track_running_stats=True)
  (5): Linear(in_features=256, out_features=10, bias=True)
))";

struct Batch {
  Tensor images;
  std::vector<int64_t> targets;
};

Batch random_batch(int64_t n, uint64_t seed) {
  Generator g(seed);
  Batch b{Tensor({n, 3, 8, 8}), {}};
  g.fill_uniform(b.images, -1, 1);
  for (int64_t i = 0; i < n; ++i) b.targets.push_back(static_cast<int64_t>(g.below(10)));
  return b;
}

std::shared_ptr<nn::Sequential> model(const char* text) {
  Generator g(3);
  auto m = nn::parse_model(text, "test", g);
  m->train();
  return m;
}

// The whole batch in one pass: parameter gradients and loss.
float whole_batch_step(nn::Sequential& m, const Batch& b) {
  for (nn::Parameter* p : m.parameters()) p->grad.fill_(0);
  nn::CrossEntropyLoss loss;
  const float l = loss.forward(m.forward(b.images), b.targets);
  Tensor g;
  loss.backward(g);
  m.backward(g);
  return l;
}

void expect_bitwise_equal(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)), 0)
      << what;
}

}  // namespace

TEST(DataParallel, ProcessesShareTheChunksAndTheirSubtreesTileTheTree) {
  for (int64_t K = 1; K <= 40; ++K)
    for (int N = 1; N <= 9; ++N) {
      int64_t next = 0;
      std::set<int64_t> covered;
      for (int r = 0; r < N; ++r) {
        const auto [first, last] = train::owned_chunks(K, r, N);
        ASSERT_EQ(first, next) << "K " << K << " N " << N << " rank " << r;
        ASSERT_LE(last - first, K / N + 1);
        ASSERT_GE(last - first, K / N);
        next = last;
        for (const auto& [lo, hi] : train::subtrees_within(K, first, last)) {
          EXPECT_TRUE(is_tree_node(lo, hi, 0, K)) << lo << ".." << hi << " of " << K;
          EXPECT_TRUE(first <= lo && hi <= last);
          for (int64_t c = lo; c < hi; ++c) EXPECT_TRUE(covered.insert(c).second) << c;
        }
      }
      EXPECT_EQ(next, K);
      EXPECT_EQ(static_cast<int64_t>(covered.size()), K) << "K " << K << " N " << N;
    }
  // A process whose chunks form a whole subtree sends one sum, whatever its size.
  EXPECT_EQ(train::subtrees_within(8, 0, 4).size(), 1u);
  EXPECT_EQ(train::subtrees_within(7, 3, 7).size(), 1u);  // [3, 7) is the root's right half
  EXPECT_TRUE(train::subtrees_within(5, 2, 2).empty());
}

TEST(DataParallel, ChunkedGradientIsTheWholeBatchGradientSummedInAnotherOrder) {
  const Batch b = random_batch(13, 1);  // chunks of 4, 4, 4, 1
  auto whole = model(kConvNet), chunked = model(kConvNet);
  const float whole_loss = whole_batch_step(*whole, b);
  train::SingleProcess one;
  DataParallelStep step(*chunked, one, 4);
  Generator gen(0);
  const double chunked_loss = step.compute(b.images, b.targets, gen);
  EXPECT_NEAR(chunked_loss, whole_loss, 1e-6);
  const auto pw = whole->parameters(), pc = chunked->parameters();
  ASSERT_EQ(pw.size(), pc.size());
  for (size_t i = 0; i < pw.size(); ++i)
    for (int64_t k = 0; k < pw[i]->grad.numel(); ++k)
      EXPECT_NEAR(pc[i]->grad.data()[k], pw[i]->grad.data()[k],
                  1e-6 + 1e-5 * std::fabs(pw[i]->grad.data()[k]))
          << "parameter " << i << " element " << k;
}

TEST(DataParallel, OneChunkIsTheWholeBatchBitForBit) {
  const Batch b = random_batch(9, 2);
  auto whole = model(kBatchNormNet), chunked = model(kBatchNormNet);
  const float whole_loss = whole_batch_step(*whole, b);
  train::SingleProcess one;
  DataParallelStep step(*chunked, one, 64);  // one chunk holds the batch
  Generator gen(0);
  EXPECT_EQ(static_cast<float>(step.compute(b.images, b.targets, gen)), whole_loss);
  const auto pw = whole->parameters(), pc = chunked->parameters();
  for (size_t i = 0; i < pw.size(); ++i)
    expect_bitwise_equal(pc[i]->grad, pw[i]->grad, "gradient " + std::to_string(i));
  const auto bw = nn::state_dict(*whole), bc = nn::state_dict(*chunked);
  for (size_t i = 0; i < bw.size(); ++i)
    expect_bitwise_equal(*bc[i].value, *bw[i].value, bw[i].name);
}

TEST(DataParallel, RunningStatisticsBlendEveryChunkInChunkOrder) {
  // Batch of 10 in chunks of 4, 4, 2: the running estimates after one step equal those of the
  // three chunks run forward one after the other (momentum 0.1 and the cumulative average).
  const Batch b = random_batch(10, 3);
  auto sequential = model(kBatchNormNet), chunked = model(kBatchNormNet);
  for (int64_t lo = 0; lo < 10; lo += 4) {
    const int64_t n = std::min<int64_t>(4, 10 - lo);
    Tensor part({n, 3, 8, 8});
    std::memcpy(part.data(), b.images.data() + lo * 192, static_cast<size_t>(n * 192) * 4);
    sequential->forward(part);
  }
  train::SingleProcess one;
  DataParallelStep step(*chunked, one, 4);
  Generator gen(0);
  step.compute(b.images, b.targets, gen);
  int buffers = 0;
  const auto ss = nn::state_dict(*sequential), sc = nn::state_dict(*chunked);
  for (size_t i = 0; i < ss.size(); ++i)
    if (!ss[i].is_parameter) {
      expect_bitwise_equal(*sc[i].value, *ss[i].value, ss[i].name);
      ++buffers;
    }
  EXPECT_EQ(buffers, 6);  // two BatchNorms: running_mean, running_var, num_batches_tracked
}

TEST(DataParallel, ChunkSizesOfAnEpochAndBatchNormChunksOfOneValueRefusedUpFront) {
  // 1003 images in batches of 50, chunks of 8: full batches 8 and 2, the last batch (3) 3.
  EXPECT_EQ(train::chunk_rows_in_epoch(1003, 50, 8), (std::vector<int64_t>{2, 3, 8}));
  EXPECT_EQ(train::chunk_rows_in_epoch(64, 64, 16), (std::vector<int64_t>{16}));
  EXPECT_EQ(train::chunk_rows_in_epoch(10, 64, 16), (std::vector<int64_t>{10}));
  EXPECT_EQ(train::chunk_rows_in_epoch(65, 64, 16), (std::vector<int64_t>{1, 16}));
  auto bn = model(kBatchNormNet);  // BatchNorm2d on 8x8 maps, then BatchNorm1d on (N, 256)
  // A one-image chunk: fine for BatchNorm2d (64 values), not for BatchNorm1d (one value).
  EXPECT_THROW(train::check_chunks(*bn, {3, 8, 8}, 65, 64, 16), ValueError);
  EXPECT_NO_THROW(train::check_chunks(*bn, {3, 8, 8}, 66, 64, 16));
  auto conv = model(kConvNet);  // no BatchNorm: any chunking
  EXPECT_NO_THROW(train::check_chunks(*conv, {3, 8, 8}, 65, 64, 16));
}
