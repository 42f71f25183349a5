#include "convlab/nn/loss.h"

#include "convlab/error.h"
#include "convlab/ops/reference.h"

namespace convlab::nn {

float CrossEntropyLoss::forward(const Tensor& logits, const std::vector<int64_t>& targets) {
  if (logits.dim() != 2 || logits.size(0) == 0)
    throw ShapeError("CrossEntropyLoss: expected logits of shape [N, classes]; got " +
                     to_string(logits.shape()));
  const int64_t N = logits.size(0), K = logits.size(1);
  if (static_cast<int64_t>(targets.size()) != N)
    throw ShapeError("CrossEntropyLoss: " + std::to_string(targets.size()) + " targets for " +
                     std::to_string(N) + " rows of logits");
  for (int64_t n = 0; n < N; ++n)
    if (targets[static_cast<size_t>(n)] < 0 || targets[static_cast<size_t>(n)] >= K)
      throw ValueError("CrossEntropyLoss: target " +
                       std::to_string(targets[static_cast<size_t>(n)]) + " of row " +
                       std::to_string(n) + " is outside 0.." + std::to_string(K - 1));
  logits_ = &logits;
  targets_ = &targets;
  // The loss of a batch of 10 logits is cheap: the double-accumulating reference is the kernel.
  return static_cast<float>(reference::cross_entropy_forward(N, K, logits.data(), targets.data()));
}

void CrossEntropyLoss::backward(Tensor& grad, int64_t batch_rows) {
  if (!logits_) throw Error("CrossEntropyLoss.backward: call forward first");
  grad.resize_(logits_->shape());
  reference::cross_entropy_backward(logits_->size(0), logits_->size(1), logits_->data(),
                                    targets_->data(), 1.0, grad.data(), batch_rows);
}

}  // namespace convlab::nn
