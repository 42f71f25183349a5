#include "convlab/nn/conv2d.h"

#include <cmath>

#include "convlab/error.h"
#include "convlab/nn/registry.h"
#include "convlab/ops/kernels.h"

namespace convlab::nn {

namespace {

void check_options(const Conv2dOptions& o, const std::string& who) {
  auto positive = [&](int64_t v, const char* what) {
    if (v <= 0) throw ValueError(who + ": " + what + " must be positive; got " + std::to_string(v));
  };
  positive(o.in_channels(), "in_channels");
  positive(o.out_channels(), "out_channels");
  positive(o.kernel_size().h, "kernel height");
  positive(o.kernel_size().w, "kernel width");
  positive(o.stride().h, "stride height");
  positive(o.stride().w, "stride width");
  if (o.padding().h < 0 || o.padding().w < 0)
    throw ValueError(who + ": padding must be non-negative; got " + o.padding().repr());
}

}  // namespace

float default_weight_bound(int64_t fan_in) {
  // torch.nn.init: gain = calculate_gain('leaky_relu', sqrt(5)); std = gain / sqrt(fan_in);
  // bound = sqrt(3) * std. Mathematically 1/sqrt(fan_in); kept as PyTorch computes it.
  const double a = std::sqrt(5.0);
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double stdev = gain / std::sqrt(static_cast<double>(fan_in));
  return static_cast<float>(std::sqrt(3.0) * stdev);
}

Conv2d::Conv2d(const Conv2dOptions& options) : options_(options) {
  check_options(options_, repr());
  const auto k = options_.kernel_size();
  weight_ = {"weight", Tensor({options_.out_channels(), options_.in_channels(), k.h, k.w}), {}};
  weight_.value.set_label(repr() + ".weight");
  weight_.grad.resize_(weight_.value.shape());
  weight_.grad.fill_(0.0f);
  if (options_.bias()) {
    bias_ = {"bias", Tensor({options_.out_channels()}), Tensor({options_.out_channels()})};
    bias_.value.set_label(repr() + ".bias");
  }
}

Conv2d::Conv2d(const Conv2dOptions& options, Generator& gen) : Conv2d(options) {
  reset_parameters(gen);
}

void Conv2d::reset_parameters(Generator& gen) {
  const auto k = options_.kernel_size();
  const int64_t fan_in = options_.in_channels() * k.h * k.w;
  const float wb = default_weight_bound(fan_in);
  gen.fill_uniform(weight_.value, -wb, wb);
  if (options_.bias()) {
    // init.uniform_(bias, -1/sqrt(fan_in), 1/sqrt(fan_in)), the bound computed in double.
    const float bb = static_cast<float>(1.0 / std::sqrt(static_cast<double>(fan_in)));
    gen.fill_uniform(bias_.value, -bb, bb);
  }
}

std::string Conv2d::repr() const {
  const auto& o = options_;
  std::string s = "Conv2d(" + std::to_string(o.in_channels()) + ", " +
                  std::to_string(o.out_channels()) + ", kernel_size=" + o.kernel_size().repr() +
                  ", stride=" + o.stride().repr();
  if (o.padding().h != 0 || o.padding().w != 0) s += ", padding=" + o.padding().repr();
  if (!o.bias()) s += ", bias=False";
  return s + ")";
}

Conv2dGeometry Conv2d::geometry(const Shape& input) const {
  // Parameters are public tensors a user may replace wholesale; check them before every use.
  const auto& o = options_;
  const Shape weight_shape{o.out_channels(), o.in_channels(), o.kernel_size().h, o.kernel_size().w};
  if (weight_.value.shape() != weight_shape)
    throw ShapeError(name() + ": weight has shape " + to_string(weight_.value.shape()) +
                     "; expected " + to_string(weight_shape));
  if (has_bias() && bias_.value.shape() != Shape{o.out_channels()})
    throw ShapeError(name() + ": bias has shape " + to_string(bias_.value.shape()) + "; expected " +
                     to_string({o.out_channels()}));
  return conv2d_geometry(input, weight_.value.shape(), options_.stride().h, options_.stride().w,
                         options_.padding().h, options_.padding().w, name());
}

Shape Conv2d::output_shape(const Shape& input) const {
  return geometry(input).output_shape();
}

void Conv2d::forward(const Tensor& input, Tensor& output) {
  const Conv2dGeometry g = geometry(input.shape());
  output.resize_(g.output_shape());
  kernels::conv2d_forward(g, input.data(), weight_.value.data(),
                          has_bias() ? bias_.value.data() : nullptr, output.data());
}

void Conv2d::backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                      Tensor* grad_input) {
  const Conv2dGeometry g = geometry(input.shape());
  if (grad_output.shape() != g.output_shape() || output.shape() != g.output_shape())
    throw ShapeError(name() + ": gradient of the output has shape " +
                     to_string(grad_output.shape()) + "; expected " + to_string(g.output_shape()));
  if (grad_input) grad_input->resize_(input.shape());
  kernels::conv2d_backward(g, input.data(), weight_.value.data(), grad_output.data(),
                           grad_input ? grad_input->data() : nullptr, weight_.grad.data(),
                           has_bias() ? bias_.grad.data() : nullptr);
}

bool Conv2d::can_fuse(const Shape& input, kernels::ConvFusion f) const {
  if (input.size() != 4) return false;
  try {
    const Conv2dGeometry g = geometry(input);
    return kernels::conv2d_fusion_applies(g, f) && (!f.pool || (g.OH >= 2 && g.OW >= 2));
  } catch (const Error&) {
    return false;  // the unfused forward reports the problem
  }
}

Shape Conv2d::fused_output_shape(const Shape& input, kernels::ConvFusion f) const {
  const Conv2dGeometry g = geometry(input);
  return f.pool ? Shape{g.N, g.O, g.OH / 2, g.OW / 2} : g.output_shape();
}

void Conv2d::forward_fused(const Tensor& input, kernels::ConvFusion f, Tensor& output,
                           std::vector<uint8_t>& argmax) {
  const Conv2dGeometry g = geometry(input.shape());
  output.resize_(fused_output_shape(input.shape(), f));
  if (f.pool) argmax.resize(static_cast<size_t>(output.numel()));
  kernels::conv2d_forward_fused(g, f, input.data(), weight_.value.data(),
                                has_bias() ? bias_.value.data() : nullptr, output.data(),
                                f.pool ? argmax.data() : nullptr);
}

bool Conv2d::can_chain(const Shape& input, kernels::ConvFusion f, const Conv2d& next,
                       kernels::ConvFusion next_f) const {
  if (input.size() != 4 || f.pool || next_f.pool) return false;
  try {
    const Conv2dGeometry a = geometry(input), b = next.geometry(a.output_shape());
    return kernels::conv2d_chain_applies(a, f, b, next_f);
  } catch (const Error&) {
    return false;  // the layers one by one report the problem
  }
}

void Conv2d::forward_chain(const Tensor& input, kernels::ConvFusion f, const Conv2d& next,
                           kernels::ConvFusion next_f, Tensor& output) const {
  const Conv2dGeometry a = geometry(input.shape()), b = next.geometry(a.output_shape());
  output.resize_(b.output_shape());
  kernels::conv2d_forward_chain(a, f, input.data(), weight_.value.data(),
                                has_bias() ? bias_.value.data() : nullptr, b, next_f,
                                next.weight_.value.data(),
                                next.has_bias() ? next.bias_.value.data() : nullptr, output.data());
}

void Conv2d::backward_fused(const Tensor& input, kernels::ConvFusion f, const Tensor& output,
                            const std::vector<uint8_t>& argmax, const Tensor& grad_output,
                            Tensor* grad_input) {
  const Conv2dGeometry g = geometry(input.shape());
  const Shape out_shape = fused_output_shape(input.shape(), f);
  if (grad_output.shape() != out_shape || output.shape() != out_shape ||
      (f.pool && argmax.size() != static_cast<size_t>(output.numel())))
    throw ShapeError(name() + " (fused): gradient of the output has shape " +
                     to_string(grad_output.shape()) + "; expected " + to_string(out_shape));
  if (grad_input) grad_input->resize_(input.shape());
  kernels::conv2d_backward_fused(g, f, input.data(), weight_.value.data(), output.data(),
                                 f.pool ? argmax.data() : nullptr, grad_output.data(),
                                 grad_input ? grad_input->data() : nullptr, weight_.grad.data(),
                                 has_bias() ? bias_.grad.data() : nullptr);
}

std::vector<Parameter*> Conv2d::parameters() {
  if (has_bias()) return {&weight_, &bias_};
  return {&weight_};
}

}  // namespace convlab::nn

namespace convlab::functional {

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, nn::Size2 stride,
              nn::Size2 padding) {
  const Conv2dGeometry g = conv2d_geometry(input.shape(), weight.shape(), stride.h, stride.w,
                                           padding.h, padding.w, "conv2d");
  const bool has_bias = bias.numel() > 0;
  if (has_bias && bias.shape() != Shape{g.O})
    throw ShapeError("conv2d: bias must have shape " + to_string({g.O}) + "; got " +
                     to_string(bias.shape()));
  Tensor out(g.output_shape());
  kernels::conv2d_forward(g, input.data(), weight.data(), has_bias ? bias.data() : nullptr,
                          out.data());
  return out;
}

}  // namespace convlab::functional

namespace convlab::nn {

void register_conv2d(LayerRegistry& r) {
  r.add({"Conv2d",
         {"in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
          "bias", "padding_mode", "device", "dtype"},
         [](const LayerArgs& a, Generator& gen) -> ModulePtr {
           if (a.has("dilation") && (a.size2("dilation").h != 1 || a.size2("dilation").w != 1))
             a.fail(": only dilation=1 is supported");
           if (a.has("groups") && a.integer("groups") != 1) a.fail(": only groups=1 is supported");
           if (a.has("padding_mode")) a.fail(": padding_mode is not supported (zeros only)");
           if (a.has("device") || a.has("dtype")) a.fail(": device and dtype are not supported");
           return std::make_shared<Conv2d>(
               Conv2dOptions(a.integer("in_channels"), a.integer("out_channels"),
                             a.size2("kernel_size"))
                   .stride(a.size2("stride", Size2(1)))
                   .padding(a.size2("padding", Size2(0)))
                   .bias(a.boolean("bias", true)),
               gen);
         }});
}

}  // namespace convlab::nn
