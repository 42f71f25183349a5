#include "convlab/experiment/decompose.h"

#include "convlab/error.h"
#include "convlab/nn/conv2d.h"

namespace convlab::experiment {

namespace {

// The dotted names of the model's Conv2d layers, for messages.
std::string conv_layers(nn::Sequential& model) {
  std::string s;
  for (const auto& m : nn::named_modules(model))
    if (dynamic_cast<const nn::Conv2d*>(m.module)) s += (s.empty() ? "" : ", ") + m.path;
  return s.empty() ? "none" : s;
}

// Clears a forward hook however the scope is left.
struct HookScope {
  nn::Module& module;
  ~HookScope() { module.set_forward_hook({}); }
};

}  // namespace

Decomposition decompose(nn::Sequential& model, const Tensor& image, size_t layer, int64_t filter,
                        bool include_bias) {
  return decompose(model, image, std::to_string(layer), filter, include_bias);
}

Decomposition decompose(nn::Sequential& model, const Tensor& image, const std::string& layer,
                        int64_t filter, bool include_bias) {
  nn::Module* found = nullptr;
  for (const auto& m : nn::named_modules(model))
    if (m.path == layer && m.module != &model) found = m.module;
  if (!found) {
    const bool index = !layer.empty() && layer.find_first_not_of("0123456789") == std::string::npos;
    throw ValueError("layer " + excerpt(layer, 60) + " does not exist" +
                     (index ? ": the model has " + std::to_string(model.size()) + " layers" : "") +
                     " (conv layers: " + conv_layers(model) + ")");
  }
  auto* conv = dynamic_cast<nn::Conv2d*>(found);
  if (!conv)
    throw ValueError("layer " + layer + " is " +
                     (found->children().empty() ? found->repr() : "a " + found->type_name()) +
                     ", not a Conv2d (conv layers: " + conv_layers(model) + ")");
  const int64_t filters = conv->options().out_channels();
  if (filter < 0 || filter >= filters)
    throw ValueError("filter " + std::to_string(filter) + " is out of range: layer " + layer +
                     " has filters 0.." + std::to_string(filters - 1));
  if (image.dim() != 4 || image.size(0) != 1)
    throw ShapeError("decompose: expected one image of shape [1, C, H, W]; got " +
                     to_string(image.shape()));

  // The layer's own input and output, wherever it sits in the tree (a hooked layer is not fused).
  Tensor input, output;
  {
    HookScope scope{*conv};
    conv->set_forward_hook([&](const Tensor& in, const Tensor& out) {
      input = in;
      output = out;
    });
    model.forward(image);
  }

  Decomposition d;
  d.layer = layer;
  d.layer_repr = conv->repr();
  d.filter = filter;
  d.bias_included = include_bias;
  d.bias = conv->has_bias() ? conv->bias()(filter) : 0.0f;
  const auto& o = conv->options();
  const Tensor w =
      conv->weight().slice(0, filter, filter + 1);  // (1, C, kH, kW): the filter's kernels
  for (int64_t c = 0; c < input.size(1); ++c) {
    // r_out = F.conv2d(x[:, c:c+1], filter0[c:c+1].unsqueeze(0), padding=...)
    d.contributions.push_back(functional::conv2d(input.slice(1, c, c + 1), w.slice(1, c, c + 1),
                                                 Tensor(), o.stride(), o.padding()));
  }
  d.combined = Tensor(d.contributions[0].shape());
  for (const Tensor& t : d.contributions) d.combined = d.combined + t;
  if (include_bias) d.combined = d.combined + d.bias;
  d.layer_output = output.slice(1, filter, filter + 1);
  d.matches = allclose(d.combined, d.layer_output, 1e-5, 1e-5);
  d.max_abs_diff = max_abs_diff(d.combined, d.layer_output);
  return d;
}

}  // namespace convlab::experiment
