// Conv2d layer with PyTorch's options, names, printing and default initialisation.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "convlab/nn/module.h"
#include "convlab/ops/conv2d.h"
#include "convlab/ops/kernels.h"
#include "convlab/tensor/random.h"

namespace convlab::nn {

// A size that is one number for both spatial dimensions or a pair (height, width), like PyTorch's
// ExpandingArray<2>.
// `pair` remembers whether it was given as a pair, because pooling layers print it as given
// (kernel_size=2 or kernel_size=(2, 2)), as PyTorch does.
struct Size2 {
  int64_t h, w;
  bool pair = false;
  Size2(int64_t both) : h(both), w(both) {}  // NOLINT: implicit, as `kernel_size=3` is in PyTorch
  Size2(int64_t h_, int64_t w_) : h(h_), w(w_), pair(true) {}
  std::string repr() const { return "(" + std::to_string(h) + ", " + std::to_string(w) + ")"; }
  // As PyTorch prints a pooling size: the number, or the pair if given as one.
  std::string as_given() const { return pair || h != w ? repr() : std::to_string(h); }
};

// Conv2dOptions(in_channels, out_channels, kernel_size).stride(1).padding(0).bias(true)
class Conv2dOptions {
 public:
  Conv2dOptions(int64_t in_channels, int64_t out_channels, Size2 kernel_size)
      : in_(in_channels), out_(out_channels), kernel_(kernel_size) {}
  Conv2dOptions& stride(Size2 s) {
    stride_ = s;
    return *this;
  }
  Conv2dOptions& padding(Size2 p) {
    padding_ = p;
    return *this;
  }
  Conv2dOptions& bias(bool b) {
    bias_ = b;
    return *this;
  }

  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  Size2 kernel_size() const { return kernel_; }
  Size2 stride() const { return stride_; }
  Size2 padding() const { return padding_; }
  bool bias() const { return bias_; }

 private:
  int64_t in_, out_;
  Size2 kernel_;
  Size2 stride_{1};
  Size2 padding_{0};
  bool bias_ = true;
};

class Conv2d : public Module {
 public:
  // Initialised as PyTorch's reset_parameters: weight by kaiming_uniform_(a=sqrt(5)), i.e. uniform
  // in +-1/sqrt(fan_in), then bias uniform in +-1/sqrt(fan_in), both drawn from `gen` in that
  // order.
  Conv2d(const Conv2dOptions& options, Generator& gen);
  // Zero weights and bias, for setting every value by hand.
  explicit Conv2d(const Conv2dOptions& options);

  std::string type_name() const override { return "Conv2d"; }
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
  std::vector<Parameter*> parameters() override;

  // This convolution with the ReLU (and 2x2 max pooling) after it, in one pass per image; see
  // kernels::ConvFusion. Sequential uses it when fusion is on and can_fuse() holds. With pooling,
  // `argmax` keeps each maximum's window position for backward_fused.
  bool can_fuse(const Shape& input, kernels::ConvFusion f) const;
  Shape fused_output_shape(const Shape& input, kernels::ConvFusion f) const;
  void forward_fused(const Tensor& input, kernels::ConvFusion f, Tensor& output,
                     std::vector<uint8_t>& argmax);
  void backward_fused(const Tensor& input, kernels::ConvFusion f, const Tensor& output,
                      const std::vector<uint8_t>& argmax, const Tensor& grad_output,
                      Tensor* grad_input);

  // Inference: this convolution (with f) and then `next` (with next_f) on its output, image by
  // image (or block by block), this one's output handed over in cache and never written out
  // (kernels::conv2d_forward_chain); `output` is next's. The same bits as the two one by one.
  bool can_chain(const Shape& input, kernels::ConvFusion f, const Conv2d& next,
                 kernels::ConvFusion next_f) const;
  void forward_chain(const Tensor& input, kernels::ConvFusion f, const Conv2d& next,
                     kernels::ConvFusion next_f, Tensor& output) const;

  const Conv2dOptions& options() const { return options_; }
  // weight (out, in, kH, kW), settable kernel by kernel: conv.weight()[0][1] = Gx.
  Tensor& weight() { return weight_.value; }
  const Tensor& weight() const { return weight_.value; }
  // bias (out); has_bias() is false for bias(false), and then bias() is empty.
  Tensor& bias() { return bias_.value; }
  const Tensor& bias() const { return bias_.value; }
  bool has_bias() const { return options_.bias(); }
  Parameter& weight_parameter() { return weight_; }
  Parameter& bias_parameter() { return bias_; }

  void reset_parameters(Generator& gen);

 private:
  Conv2dGeometry geometry(const Shape& input) const;

  Conv2dOptions options_;
  Parameter weight_;
  Parameter bias_;
};

// PyTorch's init.kaiming_uniform_(w, a=sqrt(5)) bound for a layer with this fan-in: 1/sqrt(fan_in),
// computed with PyTorch's own sequence of double operations so that it rounds the same way.
float default_weight_bound(int64_t fan_in);

}  // namespace convlab::nn

namespace convlab::functional {

// conv2d(input, weight, bias, stride, padding): bias may be an empty tensor (no bias).
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
              nn::Size2 stride = 1, nn::Size2 padding = 0);

}  // namespace convlab::functional
