// CrossEntropyLoss on logits: mean over the batch of logsumexp(z) - z[target], computed stably
// (fused log-softmax, never log of a softmax), as torch.nn.CrossEntropyLoss().
#pragma once

#include <cstdint>
#include <vector>

#include "convlab/tensor/tensor.h"

namespace convlab::nn {

class CrossEntropyLoss {
 public:
  // logits (N, K), targets N values in [0, K); throws ShapeError / ValueError otherwise.
  float forward(const Tensor& logits, const std::vector<int64_t>& targets);
  // dL/dlogits for the last forward, written into grad (resized to the logits' shape). With
  // batch_rows > 0, these logits are a chunk of a batch of that many rows and the loss is the
  // batch's mean: each row's gradient is divided by batch_rows (data-parallel training).
  void backward(Tensor& grad, int64_t batch_rows = 0);

 private:
  const Tensor* logits_ = nullptr;
  const std::vector<int64_t>* targets_ = nullptr;
};

}  // namespace convlab::nn
