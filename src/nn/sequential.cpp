#include "convlab/nn/sequential.h"

#include "convlab/error.h"

namespace convlab::nn {

void Sequential::push_back(ModulePtr layer, std::string where) {
  if (where.empty()) where = "layer " + std::to_string(layers_.size());
  layer->set_name(where + " " + layer->repr());
  layers_.push_back(std::move(layer));
  outputs_.resize(layers_.size());
}

std::string Sequential::repr() const {
  std::string s = "Sequential(\n";
  for (size_t i = 0; i < layers_.size(); ++i)
    s += "  (" + std::to_string(i) + "): " + layers_[i]->repr() + "\n";
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

const Tensor& Sequential::forward(const Tensor& input) {
  if (layers_.empty()) throw ShapeError("Sequential: the model has no layers");
  input_ = &input;
  const Tensor* x = &input;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward(*x, outputs_[i]);
    x = &outputs_[i];
  }
  return outputs_.back();
}

void Sequential::forward(const Tensor& input, Tensor& output) {
  output = forward(input);
}

void Sequential::backward(const Tensor& grad_output, Tensor* grad_input) {
  if (!input_) throw Error("Sequential.backward: call forward first");
  const Tensor* g = &grad_output;
  for (size_t i = layers_.size(); i-- > 0;) {
    const Tensor& in = i == 0 ? *input_ : outputs_[i - 1];
    Tensor* gin = i == 0 ? grad_input : (g == &grad_a_ ? &grad_b_ : &grad_a_);
    layers_[i]->backward(in, outputs_[i], *g, gin);
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
  for (size_t i = 0; i < layers_.size(); ++i)
    for (Parameter* p : layers_[i]->parameters())
      names.push_back(std::to_string(i) + "." + p->name);
  return names;
}

void Sequential::zero_grad() {
  for (Parameter* p : parameters()) p->grad.fill_(0.0f);
}

}  // namespace convlab::nn
