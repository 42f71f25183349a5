#include "convlab/nn/layers.h"

#include <cmath>

#include "convlab/error.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"

namespace convlab::nn {

namespace {

void expect_same_shape(const Module& m, const char* what, const Shape& got, const Shape& want) {
  if (got != want)
    throw ShapeError(m.name() + ": " + what + " has shape " + to_string(got) + "; expected " +
                     to_string(want));
}

}  // namespace

// ---- ReLU ----

void ReLU::forward(const Tensor& input, Tensor& output) {
  output.resize_(input.shape());
  kernels::relu_forward(input.numel(), input.data(), output.data());
}

void ReLU::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                    Tensor* grad_input) {
  expect_same_shape(*this, "gradient of the output", grad_output.shape(), input.shape());
  if (!grad_input) return;
  grad_input->resize_(input.shape());
  kernels::relu_backward(input.numel(), input.data(), grad_output.data(), grad_input->data());
}

// ---- MaxPool2d ----

MaxPool2d::MaxPool2d(Size2 kernel_size, std::optional<Size2> stride, Size2 padding)
    : kernel_(kernel_size), stride_(stride.value_or(kernel_size)), padding_(padding) {
  // Validates the options now, with a stand-in input large enough for any kernel.
  pool2d_geometry({1, 1, kernel_.h, kernel_.w}, kernel_.h, kernel_.w, stride_.h, stride_.w,
                  padding_.h, padding_.w, repr());
}

std::string MaxPool2d::repr() const {
  // PyTorch prints the numbers as given: kernel_size=2 for a square kernel, (2, 3) otherwise.
  auto num = [](Size2 s) { return s.h == s.w ? std::to_string(s.h) : s.repr(); };
  return "MaxPool2d(kernel_size=" + num(kernel_) + ", stride=" + num(stride_) +
         ", padding=" + num(padding_) + ", dilation=1, ceil_mode=False)";
}

Pool2dGeometry MaxPool2d::geometry(const Shape& input) const {
  return pool2d_geometry(input, kernel_.h, kernel_.w, stride_.h, stride_.w, padding_.h, padding_.w,
                         name());
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

// ---- Flatten ----

Shape Flatten::output_shape(const Shape& input) const {
  if (input.size() < 2)
    throw ShapeError(name() + ": expected an input with a batch dimension; got shape " +
                     to_string(input));
  return {input[0], numel(input) / std::max<int64_t>(input[0], 1)};
}

namespace {
// A batch copied image by image across the active threads (each image by the thread that made it).
void copy_per_image(const Tensor& from, Tensor& to) {
  const int64_t n = from.size(0), per = n > 0 ? from.numel() / n : 0;
  parallel_for(n, [&](int64_t i) {
    std::copy(from.data() + i * per, from.data() + (i + 1) * per, to.data() + i * per);
  });
}
}  // namespace

void Flatten::forward(const Tensor& input, Tensor& output) {
  output.resize_(output_shape(input.shape()));
  copy_per_image(input, output);
}

void Flatten::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                       Tensor* grad_input) {
  expect_same_shape(*this, "gradient of the output", grad_output.shape(),
                    output_shape(input.shape()));
  if (!grad_input) return;
  grad_input->resize_(input.shape());
  copy_per_image(grad_output, *grad_input);
}

// ---- Linear ----

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_(in_features), out_(out_features), has_bias_(bias) {
  if (in_ <= 0 || out_ <= 0)
    throw ValueError(repr() + ": in_features and out_features must be positive");
  weight_ = {"weight", Tensor({out_, in_}), Tensor({out_, in_})};
  weight_.value.set_label(repr() + ".weight");
  if (has_bias_) {
    bias_ = {"bias", Tensor({out_}), Tensor({out_})};
    bias_.value.set_label(repr() + ".bias");
  }
}

Linear::Linear(int64_t in_features, int64_t out_features, bool bias, Generator& gen)
    : Linear(in_features, out_features, bias) {
  reset_parameters(gen);
}

void Linear::reset_parameters(Generator& gen) {
  // As torch.nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) then bias in +-1/sqrt(fan_in).
  const float wb = default_weight_bound(in_);
  gen.fill_uniform(weight_.value, -wb, wb);
  if (has_bias_) {
    const float bb = static_cast<float>(1.0 / std::sqrt(static_cast<double>(in_)));
    gen.fill_uniform(bias_.value, -bb, bb);
  }
}

std::string Linear::repr() const {
  return "Linear(in_features=" + std::to_string(in_) + ", out_features=" + std::to_string(out_) +
         ", bias=" + (has_bias_ ? "True" : "False") + ")";
}

void Linear::check_parameters() const {
  expect_same_shape(*this, "weight", weight_.value.shape(), {out_, in_});
  if (has_bias_) expect_same_shape(*this, "bias", bias_.value.shape(), {out_});
}

Shape Linear::output_shape(const Shape& input) const {
  if (input.size() != 2 || input[1] != in_)
    throw ShapeError(name() + ": expected input of shape [N, " + std::to_string(in_) +
                     "]; got shape " + to_string(input));
  return {input[0], out_};
}

void Linear::forward(const Tensor& input, Tensor& output) {
  check_parameters();
  output.resize_(output_shape(input.shape()));
  kernels::linear_forward(input.size(0), in_, out_, input.data(), weight_.value.data(),
                          has_bias_ ? bias_.value.data() : nullptr, output.data());
}

void Linear::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                      Tensor* grad_input) {
  check_parameters();
  expect_same_shape(*this, "gradient of the output", grad_output.shape(),
                    output_shape(input.shape()));
  if (grad_input) grad_input->resize_(input.shape());
  kernels::linear_backward(input.size(0), in_, out_, input.data(), weight_.value.data(),
                           grad_output.data(), grad_input ? grad_input->data() : nullptr,
                           weight_.grad.data(), has_bias_ ? bias_.grad.data() : nullptr);
}

std::vector<Parameter*> Linear::parameters() {
  if (has_bias_) return {&weight_, &bias_};
  return {&weight_};
}

// ---- ChannelSum ----

Shape ChannelSum::output_shape(const Shape& input) const {
  if (input.size() != 4)
    throw ShapeError(name() + ": expected a 4-D input (N, C, H, W); got shape " + to_string(input));
  return {input[0], 1, input[2], input[3]};
}

void ChannelSum::forward(const Tensor& input, Tensor& output) {
  output.resize_(output_shape(input.shape()));
  const Shape& s = input.shape();
  kernels::channel_sum_forward(s[0], s[1], s[2] * s[3], input.data(), output.data());
}

void ChannelSum::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                          Tensor* grad_input) {
  expect_same_shape(*this, "gradient of the output", grad_output.shape(),
                    output_shape(input.shape()));
  if (!grad_input) return;
  grad_input->resize_(input.shape());
  const Shape& s = input.shape();
  kernels::channel_sum_backward(s[0], s[1], s[2] * s[3], grad_output.data(), grad_input->data());
}

}  // namespace convlab::nn
