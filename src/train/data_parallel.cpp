#include "convlab/train/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "convlab/error.h"
#include "convlab/nn/dropout.h"
#include "convlab/ops/parallel.h"

namespace convlab::train {

namespace {

constexpr int64_t kBlock = 1 << 14;  // elements per task of the element-wise work

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void collect_subtrees(int64_t lo, int64_t hi, int64_t first, int64_t last,
                      std::vector<std::pair<int64_t, int64_t>>& out) {
  if (hi <= first || last <= lo) return;
  if (first <= lo && hi <= last) {
    out.emplace_back(lo, hi);
    return;
  }
  const int64_t mid = lo + (hi - lo) / 2;
  collect_subtrees(lo, mid, first, last, out);
  collect_subtrees(mid, hi, first, last, out);
}

}  // namespace

std::pair<int64_t, int64_t> owned_chunks(int64_t chunks, int rank, int size) {
  return {chunks * rank / size, chunks * (rank + 1) / size};
}

std::pair<int64_t, int64_t> owned_rows(int64_t batch, int64_t chunk_size, int rank, int size) {
  const auto [first, last] = owned_chunks((batch + chunk_size - 1) / chunk_size, rank, size);
  return {std::min(batch, first * chunk_size), std::min(batch, last * chunk_size)};
}

std::vector<int64_t> chunk_rows_in_epoch(int64_t images, int64_t batch, int64_t chunk_size) {
  std::vector<int64_t> rows;
  auto add = [&](int64_t b) {  // the chunks of one batch of b images
    if (b >= chunk_size) rows.push_back(chunk_size);
    if (b % chunk_size) rows.push_back(b % chunk_size);
  };
  if (images >= batch) add(batch);
  if (images % batch) add(images % batch);
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

namespace {

// Whether some BatchNorm of `m` would get a single value per channel from an input of shape s
// (training then fails: "expected more than 1 value per channel").
bool batch_norm_sees_one_value(nn::Module& m, const Shape& s) {
  if (dynamic_cast<nn::BatchNorm*>(&m)) {
    int64_t values = s.empty() ? 0 : s[0];
    for (size_t d = 2; d < s.size(); ++d) values *= s[d];
    return values <= 1;
  }
  const auto kids = m.children();
  if (m.type_name() == "Sequential") {
    Shape at = s;
    for (const nn::NamedChild& k : kids) {
      if (batch_norm_sees_one_value(*k.module, at)) return true;
      at = k.module->output_shape(at);
    }
    return false;
  }
  for (const nn::NamedChild& k : kids)  // a Residual: every branch sees the input
    if (batch_norm_sees_one_value(*k.module, s)) return true;
  return false;
}

}  // namespace

void check_chunks(nn::Sequential& model, const Shape& image, int64_t images, int64_t batch,
                  int64_t chunk_size) {
  for (int64_t rows : chunk_rows_in_epoch(images, batch, chunk_size)) {
    Shape input{rows};
    input.insert(input.end(), image.begin(), image.end());
    if (batch_norm_sees_one_value(model, input))
      throw ValueError("a chunk of " + std::to_string(rows) + " image" + (rows == 1 ? "" : "s") +
                       " (" + std::to_string(images) + " training images in batches of " +
                       std::to_string(batch) + ", chunks of " + std::to_string(chunk_size) +
                       ") leaves a BatchNorm one value per channel, which training cannot "
                       "normalise; choose a batch and chunk size that leave no such chunk");
  }
}

std::vector<std::pair<int64_t, int64_t>> subtrees_within(int64_t chunks, int64_t first,
                                                         int64_t last) {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (first < last) collect_subtrees(0, chunks, first, last, out);
  return out;
}

DataParallelStep::DataParallelStep(nn::Sequential& model, Communicator& comm, int64_t chunk_size)
    : model_(model),
      comm_(comm),
      chunk_size_(chunk_size),
      params_(model.parameters()),
      scratch_(128) {
  if (chunk_size <= 0)
    throw ValueError("chunk size must be positive; got " + std::to_string(chunk_size));
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t n = params_[i]->value.numel();
    param_count_ += n;
    for (int64_t lo = 0; lo < n; lo += kBlock)
      blocks_.push_back({static_cast<int64_t>(i), lo, std::min(n, lo + kBlock)});
  }
  for (const nn::NamedModule& m : nn::named_modules(model))
    if (auto* bn = dynamic_cast<nn::BatchNorm*>(m.module); bn && bn->tracks_running_statistics())
      batch_norms_.push_back(bn);
}

DataParallelStep::Grad DataParallelStep::in(float* contiguous) const {
  Grad g;
  for (const nn::Parameter* p : params_) {
    g.push_back(contiguous);
    contiguous += p->value.numel();
  }
  return g;
}

void DataParallelStep::sum(const Grad& a, const Grad& b, const Grad& out) const {
  parallel_for(static_cast<int64_t>(blocks_.size()), [&](int64_t k) {
    const auto [i, lo, hi] = blocks_[static_cast<size_t>(k)];
    const float *x = a[static_cast<size_t>(i)], *y = b[static_cast<size_t>(i)];
    float* z = out[static_cast<size_t>(i)];
    for (int64_t e = lo; e < hi; ++e) z[e] = x[e] + y[e];
  });
}

void DataParallelStep::copy(const Grad& from, const Grad& to) const {
  parallel_for(static_cast<int64_t>(blocks_.size()), [&](int64_t k) {
    const auto [i, lo, hi] = blocks_[static_cast<size_t>(k)];
    std::memcpy(to[static_cast<size_t>(i)] + lo, from[static_cast<size_t>(i)] + lo,
                static_cast<size_t>(hi - lo) * sizeof(float));
  });
}

const DataParallelStep::Grad* DataParallelStep::known_node(int64_t lo, int64_t hi) const {
  for (size_t i = 0; i < node_keys_.size(); ++i)
    if (node_keys_[i] == std::pair{lo, hi}) return &node_values_[i];
  return nullptr;
}

DataParallelStep::Grad DataParallelStep::node_value(int64_t lo, int64_t hi, const Grad& out,
                                                    int depth) {
  if (const Grad* v = known_node(lo, hi)) return *v;
  if (hi - lo < 2) throw Error("data-parallel step: chunk " + std::to_string(lo) + " is missing");
  const int64_t mid = lo + (hi - lo) / 2;
  // The halves land in this depth's two buffers, theirs in the next depth's: a half's value is
  // never overwritten before it is used. (At most 2^63 chunks: the tree is at most 64 deep; the
  // list is sized once, so references into it stay valid through the recursion.)
  std::vector<float>& left_buf = scratch_.at(2 * static_cast<size_t>(depth));
  std::vector<float>& right_buf = scratch_.at(2 * static_cast<size_t>(depth) + 1);
  left_buf.resize(static_cast<size_t>(param_count_));
  right_buf.resize(static_cast<size_t>(param_count_));
  const Grad left = node_value(lo, mid, in(left_buf.data()), depth + 1);
  const Grad right = node_value(mid, hi, in(right_buf.data()), depth + 1);
  sum(left, right, out);
  return out;
}

double DataParallelStep::compute(const Tensor& images, const std::vector<int64_t>& targets,
                                 Generator& gen) {
  const int64_t B = images.size(0);
  if (B <= 0 || static_cast<int64_t>(targets.size()) != B)
    throw ShapeError("data-parallel step: " + std::to_string(targets.size()) + " targets for " +
                     std::to_string(B) + " images");
  using Clock = std::chrono::steady_clock;
  auto lap = [t = Clock::now()](double& into) mutable {
    const auto now = Clock::now();
    into += std::chrono::duration<double>(now - t).count();
    t = now;
  };
  const int64_t K = (B + chunk_size_ - 1) / chunk_size_;
  const int N = comm_.size(), me = comm_.rank();
  const auto [first, last] = owned_chunks(K, me, N);
  const uint64_t step_seed = (uint64_t(gen.next_u32()) << 32) | gen.next_u32();
  const int64_t row = images.numel() / B;

  // Running estimates as they were before the step: the chunks' forwards change them here, then
  // every process puts them back and replays all chunks' updates in chunk order.
  std::vector<std::vector<Tensor>> saved;
  for (nn::BatchNorm* bn : batch_norms_) {
    saved.emplace_back();
    for (const nn::Buffer* b : bn->buffers()) saved.back().push_back(b->value);
  }
  int64_t E = 1;  // per chunk: loss sum, then per BatchNorm: count, means, biased variances
  for (const nn::BatchNorm* bn : batch_norms_) E += 1 + 2 * bn->num_features();

  std::vector<double> extras(static_cast<size_t>(K * E));
  leaves_.resize(static_cast<size_t>(last - first));
  node_keys_.clear();
  node_values_.clear();
  Shape chunk_shape = images.shape();
  for (int64_t c = first; c < last; ++c) {
    const int64_t r0 = c * chunk_size_, r1 = std::min(B, r0 + chunk_size_);
    chunk_shape[0] = r1 - r0;
    chunk_images_.resize_(chunk_shape);
    std::memcpy(chunk_images_.data(), images.data() + r0 * row,
                static_cast<size_t>((r1 - r0) * row) * sizeof(float));
    chunk_targets_.assign(targets.begin() + r0, targets.begin() + r1);
    Generator chunk_gen(splitmix64(step_seed ^ splitmix64(static_cast<uint64_t>(c))));
    // The backward accumulates into this chunk's leaf, lent to the parameters as their gradient.
    std::vector<Tensor>& leaf = leaves_[static_cast<size_t>(c - first)];
    leaf.resize(params_.size());
    // Whatever happens in the chunk's passes, the parameters get their own gradients back and
    // the Dropout layers the run's generator (never this stack's).
    struct Lent {
      DataParallelStep& self;
      std::vector<Tensor>& leaf;
      Generator& run_gen;
      ~Lent() {
        for (size_t i = 0; i < self.params_.size(); ++i) std::swap(leaf[i], self.params_[i]->grad);
        nn::set_dropout_generator(self.model_, &run_gen);
      }
    };
    Grad leaf_value;
    for (size_t i = 0; i < params_.size(); ++i) {
      leaf[i].resize_(params_[i]->value.shape());
      leaf[i].fill_(0.0f);
      std::swap(leaf[i], params_[i]->grad);
      leaf_value.push_back(params_[i]->grad.data());
    }
    float loss;
    {
      const Lent lent{*this, leaf, gen};
      nn::set_dropout_generator(model_, &chunk_gen);
      loss = criterion_.forward(model_.forward(chunk_images_), chunk_targets_);
      criterion_.backward(grad_, B);
      model_.backward(grad_);
    }
    node_keys_.emplace_back(c, c + 1);
    node_values_.push_back(leaf_value);
    double* x = extras.data() + c * E;
    *x++ = static_cast<double>(loss) * static_cast<double>(r1 - r0);
    for (const nn::BatchNorm* bn : batch_norms_) {
      *x++ = bn->batch_count();
      x = std::copy(bn->batch_mean().begin(), bn->batch_mean().end(), x);
      x = std::copy(bn->batch_variance().begin(), bn->batch_variance().end(), x);
    }
  }
  nn::set_dropout_generator(model_, &gen);
  lap(times_.chunks);

  // This process's largest whole subtrees, summed straight into what it sends (one process:
  // into buffers of its own).
  const auto mine = subtrees_within(K, first, last);
  const int64_t node_bytes = param_count_ * int64_t(sizeof(float));
  if (N > 1) {
    // Every process knows what every other sends: its chunks' extras, then its subtree sums.
    std::vector<int64_t> counts(static_cast<size_t>(N));
    std::vector<std::vector<std::pair<int64_t, int64_t>>> nodes_of(static_cast<size_t>(N));
    for (int q = 0; q < N; ++q) {
      const auto [f, l] = owned_chunks(K, q, N);
      nodes_of[static_cast<size_t>(q)] = subtrees_within(K, f, l);
      counts[static_cast<size_t>(q)] =
          (l - f) * E * int64_t(sizeof(double)) +
          static_cast<int64_t>(nodes_of[static_cast<size_t>(q)].size()) * node_bytes;
    }
    char* p = comm_.outbox(counts);
    const size_t extra_bytes = static_cast<size_t>((last - first) * E) * sizeof(double);
    if (extra_bytes) std::memcpy(p, extras.data() + first * E, extra_bytes);
    p += extra_bytes;
    for (const auto& [lo, hi] : mine) {
      const Grad dest = in(reinterpret_cast<float*>(p));
      if (const Grad v = node_value(lo, hi, dest, 0); v != dest) copy(v, dest);
      p += node_bytes;
    }
    const std::vector<const char*> parts = comm_.share();
    node_keys_.clear();
    node_values_.clear();
    for (int q = 0; q < N; ++q) {
      const char* q_at = parts[static_cast<size_t>(q)];
      const auto [f, l] = owned_chunks(K, q, N);
      const size_t bytes = static_cast<size_t>((l - f) * E) * sizeof(double);
      std::memcpy(extras.data() + f * E, q_at, bytes);
      const char* v = q_at + bytes;
      for (const auto& key : nodes_of[static_cast<size_t>(q)]) {
        node_keys_.push_back(key);
        // Read only; the tree never writes a known node.
        node_values_.push_back(in(reinterpret_cast<float*>(const_cast<char*>(v))));
        v += node_bytes;
      }
    }
  }
  lap(times_.exchange);

  // The root, summed straight into the parameters' gradients (one process: from the leaves, as
  // the subtrees above would give it).
  Grad grads;
  for (nn::Parameter* p : params_) grads.push_back(p->grad.data());
  if (const Grad root = node_value(0, K, grads, 0); root != grads) copy(root, grads);

  for (size_t i = 0; i < batch_norms_.size(); ++i) {
    const auto buffers = batch_norms_[i]->buffers();
    for (size_t b = 0; b < buffers.size(); ++b) buffers[b]->value = saved[i][b];
  }
  double loss_sum = 0;
  for (int64_t c = 0; c < K; ++c) {
    const double* x = extras.data() + c * E;
    loss_sum += *x++;
    for (nn::BatchNorm* bn : batch_norms_) {
      const double count = *x++;
      const int64_t C = bn->num_features();
      bn->update_running_statistics(x, x + C, count);
      x += 2 * C;
    }
  }
  lap(times_.combine);
  ++times_.steps;
  return loss_sum / static_cast<double>(B);
}

}  // namespace convlab::train
