// Data-parallel training steps whose numbers do not depend on the number of processes.
//
// A batch of B images is cut into chunks of `chunk_size` images (the last may be shorter): chunk c
// holds the batch's rows [c*S, min((c+1)*S, B)). A chunk's gradient is its rows' share of the
// batch-mean loss, from a forward and backward of that chunk alone. The batch's gradient is the
// sum of the chunk gradients over a fixed binary tree keyed by chunk index (node [lo, hi) is
// [lo, mid) + [mid, hi), mid = lo + (hi - lo) / 2). Process r of N owns the contiguous chunks
// [r*K/N, (r+1)*K/N); it sums the largest subtrees wholly its own, every process receives every
// process's subtree sums (one allgather; shared memory on one machine), and all finish the tree the
// same way. Each float addition thus has the same operands in the same order whatever N is: the
// gradient, the optimizer step and the checkpoint are bit-identical at any process count, as every
// kernel already is at any thread count.
//
// BatchNorm normalises each chunk by the chunk's statistics (as PyTorch's DDP normalises by each
// process's share of a batch; here the share is fixed by the chunk size, not by N), and its
// running estimates blend every chunk's statistics in chunk order, as one process running the
// chunks one after the other would; every process replays the same updates. Dropout draws each
// chunk's masks from a generator seeded by (the step's seed, the chunk index): a mask belongs to
// an image's place in the batch, never to the process that computes it.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "convlab/nn/batchnorm.h"
#include "convlab/nn/loss.h"
#include "convlab/nn/sequential.h"
#include "convlab/tensor/random.h"
#include "convlab/train/communicator.h"

namespace convlab::train {

// The chunks [first, last) that process `rank` of `size` computes, of `chunks` in all.
std::pair<int64_t, int64_t> owned_chunks(int64_t chunks, int rank, int size);

// The rows of a batch of `batch` images that process `rank` of `size` computes (its chunks').
std::pair<int64_t, int64_t> owned_rows(int64_t batch, int64_t chunk_size, int rank, int size);

// The sizes (rows) of the chunks an epoch of `images` images in batches of `batch` holds, sorted.
std::vector<int64_t> chunk_rows_in_epoch(int64_t images, int64_t batch, int64_t chunk_size);

// Refuses (ValueError, before any training) a chunking under which some BatchNorm of the model
// would normalise a single value per channel, e.g. a last chunk of one image before
// BatchNorm1d: found at the start, not at the end of an epoch on one process.
void check_chunks(nn::Sequential& model, const Shape& image, int64_t images, int64_t batch,
                  int64_t chunk_size);

// The largest nodes of the chunk tree over [0, chunks) that lie wholly inside [first, last), left
// to right: what a process owning those chunks sends.
std::vector<std::pair<int64_t, int64_t>> subtrees_within(int64_t chunks, int64_t first,
                                                         int64_t last);

class DataParallelStep {
 public:
  // model in training mode; comm and model outlive this object.
  DataParallelStep(nn::Sequential& model, Communicator& comm, int64_t chunk_size);

  // One step's gradient: every parameter's grad is overwritten with the batch's gradient and
  // BatchNorm's running estimates are updated; returns the batch's mean loss (the chunks' loss
  // sums added in chunk order, divided by B). The step's dropout seed is drawn from `gen` (the
  // run's generator, in the same state on every process), whose Dropout layers use it again
  // afterwards.
  double compute(const Tensor& images, const std::vector<int64_t>& targets, Generator& gen);

  // Where the steps' time went, summed (for bench/ and docs/distributed.md's cost model):
  // forward and backward of this process's chunks, its subtree sums and the allgather (the
  // exchange: what grows with the network), and the rest of the tree and the running estimates.
  struct Times {
    double chunks = 0, exchange = 0, combine = 0;
    int64_t steps = 0;
  };
  const Times& times() const { return times_; }

 private:
  // A gradient vector: one pointer per parameter (each parameter's elements contiguous there).
  using Grad = std::vector<float*>;
  // The value of tree node [lo, hi): a known node's (a leaf of this process, or a subtree some
  // process sent) where it is, any other the sum of its two halves written into `out`.
  Grad node_value(int64_t lo, int64_t hi, const Grad& out, int depth);
  const Grad* known_node(int64_t lo, int64_t hi) const;
  Grad in(float* contiguous) const;  // a contiguous vector of all parameters, cut per parameter
  void sum(const Grad& a, const Grad& b, const Grad& out) const;  // out = a + b, element-wise
  void copy(const Grad& from, const Grad& to) const;

  nn::Sequential& model_;
  Communicator& comm_;
  int64_t chunk_size_;
  std::vector<nn::Parameter*> params_;
  std::vector<nn::BatchNorm*> batch_norms_;  // those with running estimates
  int64_t param_count_ = 0;
  nn::CrossEntropyLoss criterion_;
  Tensor chunk_images_, grad_;
  std::vector<int64_t> chunk_targets_;
  // Blocks of the element-wise work, (parameter, first, last): fixed by the shapes, so each
  // element is one operation whichever thread runs it.
  std::vector<std::array<int64_t, 3>> blocks_;
  // This process's chunk gradients (leaves: the backward writes them, in place of the
  // parameters' own gradients), the tree's scratch, the nodes known so far.
  std::vector<std::vector<Tensor>> leaves_;
  std::vector<std::vector<float>> scratch_;
  std::vector<std::pair<int64_t, int64_t>> node_keys_;
  std::vector<Grad> node_values_;
  Times times_;
};

}  // namespace convlab::train
