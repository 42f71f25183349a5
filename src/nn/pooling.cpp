#include "convlab/nn/pooling.h"

#include "convlab/error.h"
#include "convlab/nn/registry.h"
#include "convlab/ops/kernels.h"
#include "layer_checks.h"

namespace convlab::nn {

namespace {

// PyTorch prints a size as it was given: kernel_size=2 for a number, (2, 2) for a pair.
std::string size_repr(Size2 s) {
  return s.as_given();
}

// Validates pooling options when the layer is built, with a stand-in input large enough for any
// kernel, so that a bad option is reported at its model-file line rather than at the first batch.
void check_pool_options(Size2 k, Size2 s, Size2 p, bool ceil_mode, const std::string& who) {
  pool2d_geometry({1, 1, k.h, k.w}, k.h, k.w, s.h, s.w, p.h, p.w, who, ceil_mode);
}

}  // namespace

// ---- MaxPool2d ----

MaxPool2d::MaxPool2d(Size2 kernel_size, std::optional<Size2> stride, Size2 padding, bool ceil_mode)
    : kernel_(kernel_size),
      stride_(stride.value_or(kernel_size)),
      padding_(padding),
      ceil_mode_(ceil_mode) {
  check_pool_options(kernel_, stride_, padding_, ceil_mode_, repr());
}

std::string MaxPool2d::repr() const {
  return "MaxPool2d(kernel_size=" + size_repr(kernel_) + ", stride=" + size_repr(stride_) +
         ", padding=" + size_repr(padding_) +
         ", dilation=1, ceil_mode=" + (ceil_mode_ ? "True" : "False") + ")";
}

Pool2dGeometry MaxPool2d::geometry(const Shape& input) const {
  return pool2d_geometry(input, kernel_.h, kernel_.w, stride_.h, stride_.w, padding_.h, padding_.w,
                         name(), ceil_mode_);
}

Shape MaxPool2d::output_shape(const Shape& input) const {
  return geometry(input).output_shape();
}

void MaxPool2d::forward(const Tensor& input, Tensor& output) {
  const Pool2dGeometry g = geometry(input.shape());
  output.resize_(g.output_shape());
  kernels::max_pool2d_forward(g, input.data(), output.data());
}

void MaxPool2d::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                         Tensor* grad_input) {
  const Pool2dGeometry g = geometry(input.shape());
  expect_same_shape(*this, "gradient of the output", grad_output.shape(), g.output_shape());
  if (!grad_input) return;
  grad_input->resize_(input.shape());
  kernels::max_pool2d_backward(g, input.data(), grad_output.data(), grad_input->data());
}

// ---- AvgPool2d ----

AvgPool2d::AvgPool2d(Size2 kernel_size, std::optional<Size2> stride, Size2 padding, bool ceil_mode,
                     bool count_include_pad)
    : kernel_(kernel_size),
      stride_(stride.value_or(kernel_size)),
      padding_(padding),
      ceil_mode_(ceil_mode),
      count_include_pad_(count_include_pad) {
  check_pool_options(kernel_, stride_, padding_, ceil_mode_, repr());
}

std::string AvgPool2d::repr() const {
  // PyTorch's AvgPool2d.extra_repr prints only the first three, so its print of a model loses
  // ceil_mode and count_include_pad. convlab's model text must be complete (checkpoints keep it),
  // so it adds them when they differ from the defaults.
  return "AvgPool2d(kernel_size=" + size_repr(kernel_) + ", stride=" + size_repr(stride_) +
         ", padding=" + size_repr(padding_) + (ceil_mode_ ? ", ceil_mode=True" : "") +
         (count_include_pad_ ? "" : ", count_include_pad=False") + ")";
}

Pool2dGeometry AvgPool2d::geometry(const Shape& input) const {
  return pool2d_geometry(input, kernel_.h, kernel_.w, stride_.h, stride_.w, padding_.h, padding_.w,
                         name(), ceil_mode_);
}

Shape AvgPool2d::output_shape(const Shape& input) const {
  return geometry(input).output_shape();
}

void AvgPool2d::forward(const Tensor& input, Tensor& output) {
  const Pool2dGeometry g = geometry(input.shape());
  output.resize_(g.output_shape());
  kernels::avg_pool2d_forward(g, count_include_pad_, input.data(), output.data());
}

void AvgPool2d::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                         Tensor* grad_input) {
  const Pool2dGeometry g = geometry(input.shape());
  expect_same_shape(*this, "gradient of the output", grad_output.shape(), g.output_shape());
  if (!grad_input) return;
  grad_input->resize_(input.shape());
  kernels::avg_pool2d_backward(g, count_include_pad_, grad_output.data(), grad_input->data());
}

// ---- AdaptiveAvgPool2d ----

AdaptiveAvgPool2d::AdaptiveAvgPool2d(Size2 output_size, bool as_pair)
    : out_(output_size), as_pair_(as_pair || output_size.h != output_size.w) {
  if (out_.h <= 0 || out_.w <= 0) throw ValueError(repr() + ": output_size must be positive");
}

std::string AdaptiveAvgPool2d::repr() const {
  return "AdaptiveAvgPool2d(output_size=" + (as_pair_ ? out_.repr() : std::to_string(out_.h)) + ")";
}

Shape AdaptiveAvgPool2d::output_shape(const Shape& input) const {
  if (input.size() != 4)
    throw ShapeError(name() + ": expected a 4-D input (N, C, H, W); got shape " + to_string(input));
  if (input[2] < out_.h || input[3] < out_.w)
    throw ShapeError(name() + ": output size " + out_.repr() + " is larger than the input (" +
                     std::to_string(input[2]) + ", " + std::to_string(input[3]) + ") of shape " +
                     to_string(input));
  return {input[0], input[1], out_.h, out_.w};
}

void AdaptiveAvgPool2d::forward(const Tensor& input, Tensor& output) {
  output.resize_(output_shape(input.shape()));
  const Shape& s = input.shape();
  kernels::adaptive_avg_pool2d_forward(s[0] * s[1], s[2], s[3], out_.h, out_.w, input.data(),
                                       output.data());
}

void AdaptiveAvgPool2d::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                                 Tensor* grad_input) {
  expect_same_shape(*this, "gradient of the output", grad_output.shape(),
                    output_shape(input.shape()));
  if (!grad_input) return;
  grad_input->resize_(input.shape());
  const Shape& s = input.shape();
  kernels::adaptive_avg_pool2d_backward(s[0] * s[1], s[2], s[3], out_.h, out_.w, grad_output.data(),
                                        grad_input->data());
}

// ---- registration ----

void register_pooling(LayerRegistry& r) {
  r.add({"MaxPool2d",
         {"kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"},
         [](const LayerArgs& a, Generator&) -> ModulePtr {
           if (a.has("dilation") && (a.size2("dilation").h != 1 || a.size2("dilation").w != 1))
             a.fail(": only dilation=1 is supported");
           if (a.boolean("return_indices", false)) a.fail(": return_indices is not supported");
           return std::make_shared<MaxPool2d>(
               a.size2("kernel_size"),
               a.has("stride") && !a.is_none("stride") ? std::optional<Size2>(a.size2("stride"))
                                                       : std::nullopt,
               a.size2("padding", Size2(0)), a.boolean("ceil_mode", false));
         }});
  r.add({"AvgPool2d",
         {"kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"},
         [](const LayerArgs& a, Generator&) -> ModulePtr {
           if (a.has("divisor_override") && !a.is_none("divisor_override"))
             a.fail(": divisor_override is not supported");
           return std::make_shared<AvgPool2d>(
               a.size2("kernel_size"),
               a.has("stride") && !a.is_none("stride") ? std::optional<Size2>(a.size2("stride"))
                                                       : std::nullopt,
               a.size2("padding", Size2(0)), a.boolean("ceil_mode", false),
               a.boolean("count_include_pad", true));
         }});
  r.add({"AdaptiveAvgPool2d", {"output_size"}, [](const LayerArgs& a, Generator&) -> ModulePtr {
           const Size2 out = a.size2("output_size");
           return std::make_shared<AdaptiveAvgPool2d>(out, a.is_tuple("output_size"));
         }});
}

}  // namespace convlab::nn
