// The layers besides Conv2d: ReLU, MaxPool2d, Flatten, Linear and ChannelSum (the notebook's
// x.sum(dim=1, keepdim=True) as a layer). Names, options and repr() follow PyTorch.
#pragma once

#include "convlab/nn/conv2d.h"
#include "convlab/nn/module.h"
#include "convlab/ops/pool2d.h"
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

// MaxPool2d(kernel_size, stride = kernel_size, padding = 0); output sizes rounded down.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                     Size2 padding = 0);
  std::string type_name() const override { return "MaxPool2d"; }
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
  // 2x2 windows, stride 2, no padding: the pooling a convolution can fuse.
  bool is_2x2_stride2() const {
    return kernel_.h == 2 && kernel_.w == 2 && stride_.h == 2 && stride_.w == 2 &&
           padding_.h == 0 && padding_.w == 0;
  }

 private:
  Pool2dGeometry geometry(const Shape& input) const;
  Size2 kernel_, stride_, padding_;
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

  Tensor& weight() { return weight_.value; }
  Tensor& bias() { return bias_.value; }
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
