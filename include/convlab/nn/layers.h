// The simple layers: ReLU, LeakyReLU, Identity, Flatten, Linear and ChannelSum (the notebook's
// x.sum(dim=1, keepdim=True) as a layer). Names, options and repr() follow PyTorch. Pooling is in
// pooling.h, BatchNorm in batchnorm.h, Dropout in dropout.h, containers in sequential.h and
// residual.h.
#pragma once

#include "convlab/nn/conv2d.h"
#include "convlab/nn/module.h"
#include "convlab/nn/pooling.h"
#include "convlab/tensor/random.h"

namespace convlab::nn {

class ReLU : public Module {
 public:
  std::string type_name() const override { return "ReLU"; }
  std::string repr() const override { return "ReLU()"; }
  Shape output_shape(const Shape& input) const override { return input; }
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
};

// LeakyReLU(negative_slope=0.01): x if x > 0, else negative_slope * x.
class LeakyReLU : public Module {
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : slope_(negative_slope) {}
  std::string type_name() const override { return "LeakyReLU"; }
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override { return input; }
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;

 private:
  double slope_;
};

// Identity(): the input unchanged (a Residual's shortcut when shapes already agree).
class Identity : public Module {
 public:
  std::string type_name() const override { return "Identity"; }
  std::string repr() const override { return "Identity()"; }
  Shape output_shape(const Shape& input) const override { return input; }
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
};

// Flatten(start_dim=1, end_dim=-1): (N, C, H, W) -> (N, C*H*W).
class Flatten : public Module {
 public:
  std::string type_name() const override { return "Flatten"; }
  std::string repr() const override { return "Flatten(start_dim=1, end_dim=-1)"; }
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
};

// Linear(in_features, out_features, bias): y = x W^T + b, W (out, in); initialised as PyTorch.
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen);
  Linear(int64_t in_features, int64_t out_features, bool bias = true);  // zero parameters
  std::string type_name() const override { return "Linear"; }
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
  std::vector<Parameter*> parameters() override;
  // Flatten and this layer in one step (Sequential's fusion): input (N, ...) read as
  // (N, in_features) where it lies, its gradient written in input's shape; no flattened copy.
  void forward_flattened(const Tensor& input, Tensor& output);
  void backward_flattened(const Tensor& input, const Tensor& grad_output, Tensor* grad_input);

  Tensor& weight() { return weight_.value; }
  Tensor& bias() { return bias_.value; }
  int64_t in_features() const { return in_; }
  void reset_parameters(Generator& gen);

 private:
  void check_parameters() const;
  int64_t in_, out_;
  bool has_bias_;
  Parameter weight_, bias_;
};

// ChannelSum(): (N, C, H, W) -> (N, 1, H, W), summing the channels: the sum-first experiment.
class ChannelSum : public Module {
 public:
  std::string type_name() const override { return "ChannelSum"; }
  std::string repr() const override { return "ChannelSum(dim=1, keepdim=True)"; }
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
};

}  // namespace convlab::nn
