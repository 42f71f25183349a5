// BatchNorm1d and BatchNorm2d with PyTorch's options, names, printing, buffers and update order.
// Training mode normalises each channel by its batch mean and biased variance and updates the
// running estimates (running_mean, running_var with the unbiased variance, num_batches_tracked);
// evaluation mode normalises by the running estimates.
#pragma once

#include <optional>
#include <vector>

#include "convlab/nn/module.h"

namespace convlab::nn {

class BatchNorm : public Module {
 public:
  // dims: 1 (BatchNorm1d: input (N, C) or (N, C, L)) or 2 (BatchNorm2d: input (N, C, H, W)).
  // momentum nullopt is PyTorch's momentum=None: a cumulative average of the batch statistics.
  BatchNorm(int dims, int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
            bool affine = true, bool track_running_stats = true);
  std::string type_name() const override { return dims_ == 1 ? "BatchNorm1d" : "BatchNorm2d"; }
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
  std::vector<Parameter*> parameters() override;
  std::vector<Buffer*> buffers() override;
  // This layer and a ReLU after it in one pass (Sequential fuses them): output = relu(bn(input)),
  // bit for bit the two layers'; backward takes that output (for its shape: the ReLU's mask is
  // recomputed from the input) and the gradient of it.
  void forward_relu(const Tensor& input, Tensor& output);
  // In evaluation mode with running statistics: the per-channel map forward applies, as the
  // mean, scale and shift of kernels::ConvFusion (a convolution then applies it itself).
  bool uses_running_statistics() const { return !training_ && track_; }
  void inference_affine(std::vector<double>& mean, std::vector<double>& scale,
                        std::vector<double>& shift) const;
  void backward_relu(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                     Tensor* grad_input);

  // The statistics the last training forward normalised with: per channel, the mean and the
  // biased variance over `batch_count()` values (data-parallel training gathers them per chunk).
  const std::vector<double>& batch_mean() const { return mean_; }
  const std::vector<double>& batch_variance() const { return batch_var_; }
  double batch_count() const { return batch_count_; }
  // Blends one batch's statistics into the running estimates exactly as a training forward does
  // (count the batch, then blend, with the unbiased variance); a no-op without running statistics.
  void update_running_statistics(const double* mean, const double* biased_var, double count);
  bool tracks_running_statistics() const { return track_; }

  Tensor& weight() { return weight_.value; }
  Tensor& bias() { return bias_.value; }
  Tensor& running_mean() { return running_mean_.value; }
  Tensor& running_var() { return running_var_.value; }
  int64_t num_features() const { return features_; }
  double eps() const { return eps_; }

 private:
  // (N, C, L) view of an input shape.
  void split(const Shape& s, int64_t& N, int64_t& L) const;
  void run_forward(const Tensor& input, Tensor& output, bool relu);
  void run_backward(const Tensor& input, bool relu, const Tensor& grad_output, Tensor* grad_input);
  int dims_;
  int64_t features_;
  double eps_;
  std::optional<double> momentum_;
  bool affine_, track_;
  Parameter weight_, bias_;
  Buffer running_mean_, running_var_, num_batches_tracked_;
  // What the last forward normalised with, for backward.
  std::vector<double> mean_, invstd_;
  std::vector<double> batch_var_;  // the biased batch variance, when batch statistics were used
  double batch_count_ = 0;
  bool used_batch_stats_ = true;
};

}  // namespace convlab::nn
