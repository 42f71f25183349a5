// Pooling layers with PyTorch's options, names and printing: MaxPool2d, AvgPool2d and
// AdaptiveAvgPool2d.
#pragma once

#include <optional>

#include "convlab/nn/conv2d.h"
#include "convlab/nn/module.h"
#include "convlab/ops/pool2d.h"

namespace convlab::nn {

// MaxPool2d(kernel_size, stride = kernel_size, padding = 0, ceil_mode = False).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                     Size2 padding = 0, bool ceil_mode = false);
  std::string type_name() const override { return "MaxPool2d"; }
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
  // 2x2 windows, stride 2, no padding: the pooling a convolution can fuse.
  bool is_2x2_stride2() const {
    return kernel_.h == 2 && kernel_.w == 2 && stride_.h == 2 && stride_.w == 2 &&
           padding_.h == 0 && padding_.w == 0 && !ceil_mode_;
  }

 private:
  Pool2dGeometry geometry(const Shape& input) const;
  Size2 kernel_, stride_, padding_;
  bool ceil_mode_;
};

// AvgPool2d(kernel_size, stride = kernel_size, padding = 0, ceil_mode = False,
// count_include_pad = True): the mean of each window (divisor_override is not supported).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size, std::optional<Size2> stride = std::nullopt,
                     Size2 padding = 0, bool ceil_mode = false, bool count_include_pad = true);
  std::string type_name() const override { return "AvgPool2d"; }
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;

 private:
  Pool2dGeometry geometry(const Shape& input) const;
  Size2 kernel_, stride_, padding_;
  bool ceil_mode_, count_include_pad_;
};

// AdaptiveAvgPool2d(output_size): any (OH, OW) no larger than the input; each output cell
// averages the input rows [floor(i*H/OH), ceil((i+1)*H/OH)) and the columns likewise.
class AdaptiveAvgPool2d : public Module {
 public:
  // `as_pair`: print output_size=(h, w) (as given as a tuple) rather than output_size=h.
  explicit AdaptiveAvgPool2d(Size2 output_size, bool as_pair = false);
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;

 private:
  Size2 out_;
  bool as_pair_;
};

}  // namespace convlab::nn
