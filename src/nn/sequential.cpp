#include "convlab/nn/sequential.h"

#include <optional>

#include "convlab/error.h"
#include "convlab/nn/batchnorm.h"
#include "convlab/nn/conv2d.h"
#include "convlab/nn/layers.h"
#include "convlab/nn/residual.h"

namespace convlab::nn {

void Sequential::push_back(ModulePtr layer, std::string where) {
  if (where.empty()) where = "layer " + std::to_string(layers_.size());
  // A layer is named by its one-line repr; a container by its type (its repr spans many lines).
  layer->set_name(where + " " + (layer->children().empty() ? layer->repr() : layer->type_name()));
  // first_with_parameters_ == size() means "no layer with parameters yet"; it stays so past a
  // parameter-free layer.
  if (first_with_parameters_ == layers_.size() && layer->parameters().empty())
    ++first_with_parameters_;
  layers_.push_back(std::move(layer));
  outputs_.resize(layers_.size());
  kept_.assign(layers_.size(), false);
  argmax_.resize(layers_.size());
  affine_.resize(layers_.size());
  grads_.resize(layers_.size());
}

const Tensor& Sequential::activation(size_t i) const {
  if (i >= layers_.size())
    throw Error("Sequential.activation: no layer " + std::to_string(i) + " (the model has " +
                std::to_string(layers_.size()) + ")");
  if (!kept_[i])
    throw Error("Sequential.activation: the output of layer " + std::to_string(i) +
                " is not kept (run forward with fusion off to keep every layer's output)");
  return outputs_[i];
}

void Sequential::set_fusion(bool on) {
  fusion_ = on;
  for (const auto& m : named_modules(*this))
    if (auto* s = dynamic_cast<Sequential*>(m.module); s && s != this) s->fusion_ = on;
}

void Sequential::set_inference(bool on) {
  inference_ = on;
  for (const auto& m : named_modules(*this))
    if (auto* s = dynamic_cast<Sequential*>(m.module); s && s != this) s->inference_ = on;
}

Sequential::Step Sequential::plan_step(size_t i, const Shape& input) const {
  const Step single{i, i, {}};
  for (size_t k = i; k < std::min(i + 4, layers_.size()); ++k)
    if (layers_[k]->has_forward_hook()) return single;  // a hooked layer's output must exist
  const bool relu_next =
      i + 1 < layers_.size() && dynamic_cast<const ReLU*>(layers_[i + 1].get()) != nullptr;
  if (fusion_ && relu_next && dynamic_cast<const BatchNorm*>(layers_[i].get()))
    return {i, i + 1, {}, /*batch_norm_relu=*/true};
  if (fusion_ && relu_next && dynamic_cast<const Residual*>(layers_[i].get()))
    return {i, i + 1, {}, false, false, /*residual_relu=*/true};
  // A Flatten and the Linear after it, where the shapes agree (else each layer runs alone and
  // says what is wrong): the Linear reads the unflattened input in place.
  const auto* linear =
      i + 1 < layers_.size() ? dynamic_cast<const Linear*>(layers_[i + 1].get()) : nullptr;
  if (fusion_ && linear && dynamic_cast<const Flatten*>(layers_[i].get()) && input.size() >= 2 &&
      input[0] > 0 && numel(input) / input[0] == linear->in_features()) {
    Step step = single;
    step.last = i + 1;
    step.flatten_linear = true;
    return step;
  }
  auto* conv = dynamic_cast<Conv2d*>(layers_[i].get());
  if (!fusion_ || !conv) return single;
  // Inference: a BatchNorm with running statistics right after the convolution joins it.
  const auto* bn =
      i + 1 < layers_.size() ? dynamic_cast<const BatchNorm*>(layers_[i + 1].get()) : nullptr;
  // Only a BatchNorm over the convolution's channels: any other count is the BatchNorm's own
  // ShapeError when it runs alone (folded, its statistics would be read past their end).
  const bool with_bn = inference_ && bn && bn->uses_running_statistics() &&
                       bn->num_features() == conv->options().out_channels();
  const size_t r = with_bn ? i + 2 : i + 1;  // where a fused ReLU would be
  if (r >= layers_.size() || !dynamic_cast<const ReLU*>(layers_[r].get())) {
    if (with_bn && conv->can_fuse(input, {})) return {i, i + 1, {}, false, true};
    return single;
  }
  const auto* pool =
      r + 1 < layers_.size() ? dynamic_cast<const MaxPool2d*>(layers_[r + 1].get()) : nullptr;
  const kernels::ConvFusion with_pool{true, true}, relu_only{true, false};
  if (pool && pool->is_2x2_stride2() && conv->can_fuse(input, with_pool))
    return {i, r + 1, with_pool, false, with_bn};
  if (conv->can_fuse(input, relu_only)) return {i, r, relu_only, false, with_bn};
  if (with_bn && conv->can_fuse(input, {})) return {i, i + 1, {}, false, true};
  return single;
}

std::string Sequential::repr() const {
  std::string s = "Sequential(\n";
  for (size_t i = 0; i < layers_.size(); ++i)
    s += "  (" + std::to_string(i) + "): " + indent_repr(layers_[i]->repr(), 2) + "\n";
  return s + ")";
}

std::vector<Shape> Sequential::layer_shapes(const Shape& input) const {
  std::vector<Shape> shapes;
  Shape s = input;
  for (const auto& l : layers_) {
    s = l->output_shape(s);
    shapes.push_back(s);
  }
  return shapes;
}

Shape Sequential::output_shape(const Shape& input) const {
  const auto shapes = layer_shapes(input);
  return shapes.empty() ? input : shapes.back();
}

kernels::ConvFusion Sequential::fusion_of(const Step& step) {
  kernels::ConvFusion f = step.fusion;
  if (step.conv_batch_norm) {
    auto& [mean, scale, shift] = affine_[step.first];
    static_cast<const BatchNorm&>(*layers_[step.first + 1]).inference_affine(mean, scale, shift);
    f.bn_mean = mean.data();
    f.bn_scale = scale.data();
    f.bn_shift = shift.data();
  }
  return f;
}

const Tensor& Sequential::forward(const Tensor& input) {
  if (layers_.empty()) throw ShapeError("Sequential: the model has no layers");
  input_ = &input;
  steps_.clear();
  const Tensor* x = &input;
  for (size_t i = 0; i < layers_.size();) {
    Step step = plan_step(i, x->shape());
    for (size_t k = step.first; k <= step.last; ++k) kept_[k] = false;
    // Inference: a fused convolution whose output only feeds the next convolution hands it over
    // in cache (Conv2d::forward_chain); its output is not kept.
    const bool conv_step = step.first < step.last && !step.batch_norm_relu && !step.residual_relu &&
                           !step.flatten_linear && !step.fusion.pool;
    std::optional<kernels::ConvFusion> fa;  // the step's fusion, once worked out
    if (inference_ && conv_step && step.last + 1 < layers_.size()) {
      auto& a = static_cast<Conv2d&>(*layers_[i]);
      Step next = plan_step(step.last + 1, a.fused_output_shape(x->shape(), step.fusion));
      auto* b = dynamic_cast<Conv2d*>(layers_[next.first].get());
      const bool b_plain = next.first == next.last && b && !b->has_forward_hook();
      const bool b_fused =
          next.first < next.last && b && !next.batch_norm_relu && !next.fusion.pool;
      if (b_plain || b_fused) {
        fa = fusion_of(step);
        const kernels::ConvFusion fb = fusion_of(next);
        if (a.can_chain(x->shape(), *fa, *b, fb)) {
          for (size_t k = next.first; k <= next.last; ++k) kept_[k] = false;
          a.forward_chain(*x, *fa, *b, fb, outputs_[next.last]);
          kept_[next.last] = true;
          x = &outputs_[next.last];
          step.chained = next.chained = true;
          steps_.push_back(step);
          steps_.push_back(next);
          i = next.last + 1;
          continue;
        }
      }
    }
    if (step.first == step.last) {
      layers_[i]->forward(*x, outputs_[i]);
      layers_[i]->run_forward_hook(*x, outputs_[i]);
    } else if (step.batch_norm_relu) {
      static_cast<BatchNorm&>(*layers_[i]).forward_relu(*x, outputs_[step.last]);
    } else if (step.residual_relu) {
      static_cast<Residual&>(*layers_[i]).forward_relu(*x, outputs_[step.last]);
    } else if (step.flatten_linear) {
      static_cast<Linear&>(*layers_[step.last]).forward_flattened(*x, outputs_[step.last]);
    } else {
      static_cast<Conv2d&>(*layers_[i])
          .forward_fused(*x, fa ? *fa : fusion_of(step), outputs_[step.last], argmax_[i]);
    }
    kept_[step.last] = true;
    x = &outputs_[step.last];
    steps_.push_back(step);
    i = step.last + 1;
  }
  return outputs_.back();
}

void Sequential::forward(const Tensor& input, Tensor& output) {
  output = forward(input);
}

void Sequential::backward(const Tensor& grad_output, Tensor* grad_input) {
  if (!input_) throw Error("Sequential.backward: call forward first");
  for (const Step& step : steps_)
    if (step.conv_batch_norm || step.chained)
      throw Error("Sequential.backward: the last forward ran for inference only (" +
                  std::string(step.chained
                                  ? "two convolutions chained, the first one's output not kept"
                                  : "a Conv2d and a BatchNorm in evaluation mode fused") +
                  "); run forward outside InferenceScope");
  const Tensor* g = &grad_output;
  for (size_t s = steps_.size(); s-- > 0 && g;) {
    const Step& step = steps_[s];
    const size_t i = step.first;
    const Tensor& in = i == 0 ? *input_ : outputs_[i - 1];
    // Each layer's input gradient has a buffer of its own, so its shape (and storage) stays put
    // from batch to batch.
    // Below the first layer with parameters, gradients are needed only if the caller asks for
    // grad_input (sumfirst's ChannelSum needs none, nor does its convolution's input).
    Tensor* gin = i == 0                                       ? grad_input
                  : (grad_input || i > first_with_parameters_) ? &grads_[i - 1]
                                                               : nullptr;
    if (step.first == step.last)
      layers_[i]->backward(in, outputs_[i], *g, gin);
    else if (step.batch_norm_relu)
      static_cast<BatchNorm&>(*layers_[i]).backward_relu(in, outputs_[step.last], *g, gin);
    else if (step.residual_relu)
      static_cast<Residual&>(*layers_[i]).backward_relu(in, outputs_[step.last], *g, gin);
    else if (step.flatten_linear)
      static_cast<Linear&>(*layers_[step.last]).backward_flattened(in, *g, gin);
    else
      static_cast<Conv2d&>(*layers_[i])
          .backward_fused(in, step.fusion, outputs_[step.last], argmax_[i], *g, gin);
    g = gin;
  }
}

void Sequential::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                          Tensor* grad_input) {
  if (&input != input_)
    throw Error("Sequential.backward: input is not the tensor of the last forward pass");
  backward(grad_output, grad_input);
}

std::vector<Parameter*> Sequential::parameters() {
  std::vector<Parameter*> all;
  for (auto& l : layers_)
    for (Parameter* p : l->parameters()) all.push_back(p);
  return all;
}

std::vector<std::string> Sequential::parameter_names() {
  std::vector<std::string> names;
  for (const NamedTensor& t : state_dict(*this))
    if (t.is_parameter) names.push_back(t.name);
  return names;
}

std::vector<NamedChild> Sequential::children() {
  std::vector<NamedChild> c;
  for (size_t i = 0; i < layers_.size(); ++i) c.push_back({std::to_string(i), layers_[i].get()});
  return c;
}

void Sequential::train(bool on) {
  training_ = on;
  for (auto& l : layers_) l->train(on);
}

void Sequential::zero_grad() {
  for (Parameter* p : parameters()) p->grad.fill_(0.0f);
}

}  // namespace convlab::nn
