#include "convlab/experiment/decompose.h"

#include "convlab/error.h"
#include "convlab/nn/conv2d.h"

namespace convlab::experiment {

namespace {

std::string conv_layers(const nn::Sequential& model) {
  std::string s;
  for (size_t i = 0; i < model.size(); ++i)
    if (dynamic_cast<const nn::Conv2d*>(&model[i]))
      s += (s.empty() ? "" : ", ") + std::to_string(i);
  return s.empty() ? "none" : s;
}

}  // namespace

Decomposition decompose(nn::Sequential& model, const Tensor& image, size_t layer, int64_t filter,
                        bool include_bias) {
  if (layer >= model.size())
    throw ValueError("layer " + std::to_string(layer) + " does not exist: the model has " +
                     std::to_string(model.size()) + " layers (conv layers: " + conv_layers(model) +
                     ")");
  auto* conv = dynamic_cast<nn::Conv2d*>(&model[layer]);
  if (!conv)
    throw ValueError("layer " + std::to_string(layer) + " is " + model[layer].repr() +
                     ", not a Conv2d (conv layers: " + conv_layers(model) + ")");
  const int64_t filters = conv->options().out_channels();
  if (filter < 0 || filter >= filters)
    throw ValueError("filter " + std::to_string(filter) + " is out of range: layer " +
                     std::to_string(layer) + " has filters 0.." + std::to_string(filters - 1));
  if (image.dim() != 4 || image.size(0) != 1)
    throw ShapeError("decompose: expected one image of shape [1, C, H, W]; got " +
                     to_string(image.shape()));

  model.forward(image);
  const Tensor input = layer == 0 ? image : model.activation(layer - 1);
  const Tensor& output = model.activation(layer);

  Decomposition d;
  d.layer = layer;
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
