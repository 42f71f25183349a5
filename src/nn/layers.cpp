#include "convlab/nn/layers.h"

#include <cmath>

#include "convlab/error.h"
#include "convlab/nn/registry.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"
#include "layer_checks.h"

namespace convlab::nn {

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

// ---- LeakyReLU ----

std::string LeakyReLU::repr() const {
  return "LeakyReLU(negative_slope=" + python_repr(slope_) + ")";
}

void LeakyReLU::forward(const Tensor& input, Tensor& output) {
  output.resize_(input.shape());
  kernels::leaky_relu_forward(input.numel(), static_cast<float>(slope_), input.data(),
                              output.data());
}

void LeakyReLU::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                         Tensor* grad_input) {
  expect_same_shape(*this, "gradient of the output", grad_output.shape(), input.shape());
  if (!grad_input) return;
  grad_input->resize_(input.shape());
  kernels::leaky_relu_backward(input.numel(), static_cast<float>(slope_), input.data(),
                               grad_output.data(), grad_input->data());
}

// ---- Identity ----

void Identity::forward(const Tensor& input, Tensor& output) {
  output.resize_(input.shape());
  std::copy(input.data(), input.data() + input.numel(), output.data());
}

void Identity::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                        Tensor* grad_input) {
  expect_same_shape(*this, "gradient of the output", grad_output.shape(), input.shape());
  if (!grad_input) return;
  grad_input->resize_(input.shape());
  std::copy(grad_output.data(), grad_output.data() + grad_output.numel(), grad_input->data());
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

// forward and backward take (N, in_features) only; the flattened forms (N, ...) of that size.
void Linear::forward(const Tensor& input, Tensor& output) {
  check_parameters();
  output_shape(input.shape());  // throws unless (N, in_features)
  forward_flattened(input, output);
}

void Linear::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                      Tensor* grad_input) {
  check_parameters();
  output_shape(input.shape());  // throws unless (N, in_features)
  backward_flattened(input, grad_output, grad_input);
}

void Linear::forward_flattened(const Tensor& input, Tensor& output) {
  const Shape flat = Flatten().output_shape(input.shape());
  check_parameters();
  output.resize_(output_shape(flat));
  kernels::linear_forward(flat[0], in_, out_, input.data(), weight_.value.data(),
                          has_bias_ ? bias_.value.data() : nullptr, output.data());
}

void Linear::backward_flattened(const Tensor& input, const Tensor& grad_output,
                                Tensor* grad_input) {
  const Shape flat = Flatten().output_shape(input.shape());
  check_parameters();
  expect_same_shape(*this, "gradient of the output", grad_output.shape(), output_shape(flat));
  if (grad_input) grad_input->resize_(input.shape());
  kernels::linear_backward(flat[0], in_, out_, input.data(), weight_.value.data(),
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

// ---- registration ----

void register_basic_layers(LayerRegistry& r) {
  r.add({"ReLU", {"inplace"}, [](const LayerArgs& a, Generator&) -> ModulePtr {
           a.boolean("inplace", false);  // accepted, as PyTorch prints it; nothing is in place here
           return std::make_shared<ReLU>();
         }});
  r.add(
      {"LeakyReLU", {"negative_slope", "inplace"}, [](const LayerArgs& a, Generator&) -> ModulePtr {
         a.boolean("inplace", false);
         return std::make_shared<LeakyReLU>(a.real("negative_slope", 0.01));
       }});
  r.add({"Identity", {}, [](const LayerArgs&, Generator&) -> ModulePtr {
           return std::make_shared<Identity>();
         }});
  r.add({"Flatten", {"start_dim", "end_dim"}, [](const LayerArgs& a, Generator&) -> ModulePtr {
           if (a.integer("start_dim", 1) != 1 || a.integer("end_dim", -1) != -1)
             a.fail(": only start_dim=1, end_dim=-1 is supported");
           return std::make_shared<Flatten>();
         }});
  r.add({"Linear",
         {"in_features", "out_features", "bias", "device", "dtype"},
         [](const LayerArgs& a, Generator& gen) -> ModulePtr {
           if (a.has("device") || a.has("dtype")) a.fail(": device and dtype are not supported");
           return std::make_shared<Linear>(a.integer("in_features"), a.integer("out_features"),
                                           a.boolean("bias", true), gen);
         }});
  r.add({"ChannelSum", {"dim", "keepdim"}, [](const LayerArgs& a, Generator&) -> ModulePtr {
           if (a.integer("dim", 1) != 1 || !a.boolean("keepdim", true))
             a.fail(": only dim=1, keepdim=True is supported");
           return std::make_shared<ChannelSum>();
         }});
}

}  // namespace convlab::nn
