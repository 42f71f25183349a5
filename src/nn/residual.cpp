#include "convlab/nn/residual.h"

#include "convlab/error.h"
#include "convlab/nn/layers.h"
#include "convlab/ops/kernels.h"

namespace convlab::nn {

std::string indent_repr(const std::string& repr, int spaces) {
  std::string out;
  for (char c : repr) {
    out += c;
    if (c == '\n') out += std::string(static_cast<size_t>(spaces), ' ');
  }
  return out;
}

Residual::Residual(ModulePtr body, ModulePtr shortcut)
    : body_(std::move(body)), shortcut_(std::move(shortcut)) {
  if (!body_ || !shortcut_) throw ValueError("Residual: needs a body and a shortcut");
  identity_shortcut_ = dynamic_cast<const Identity*>(shortcut_.get()) != nullptr;
}

std::string Residual::repr() const {
  return "Residual(\n  (body): " + indent_repr(body_->repr(), 2) +
         "\n  (shortcut): " + indent_repr(shortcut_->repr(), 2) + "\n)";
}

Shape Residual::output_shape(const Shape& input) const {
  const Shape b = body_->output_shape(input), s = shortcut_->output_shape(input);
  if (b != s)
    throw ShapeError(name() + ": the body gives shape " + to_string(b) +
                     " but the shortcut gives " + to_string(s) + " for input " + to_string(input) +
                     "; they are added, so they must agree");
  return b;
}

namespace {

void add(const Tensor& a, const Tensor& b, Tensor& out, bool relu = false) {
  out.resize_(a.shape());
  kernels::add(a.numel(), a.data(), b.data(), relu, out.data());
}

}  // namespace

void Residual::forward(const Tensor& input, Tensor& output) {
  join(input, false, output);
}

void Residual::forward_relu(const Tensor& input, Tensor& output) {
  join(input, true, output);
}

void Residual::backward_relu(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                             Tensor* grad_input) {
  if (grad_output.shape() != output.shape())
    throw ShapeError(name() + ": gradient of the output has shape " +
                     to_string(grad_output.shape()) + "; expected " + to_string(output.shape()));
  relu_grad_.resize_(output.shape());
  // ReLU's own backward with its output in place of its input: y > 0 exactly where x > 0.
  kernels::relu_backward(output.numel(), output.data(), grad_output.data(), relu_grad_.data());
  backward(input, output, relu_grad_, grad_input);
}

void Residual::join(const Tensor& input, bool relu, Tensor& output) {
  body_out_ = &body_->forward_to(input, body_store_);
  body_->run_forward_hook(input, *body_out_);
  shortcut_out_ = identity_shortcut_ ? &input : &shortcut_->forward_to(input, shortcut_store_);
  shortcut_->run_forward_hook(input, *shortcut_out_);
  if (body_out_->shape() != shortcut_out_->shape())
    output_shape(input.shape());  // throws, naming both
  add(*body_out_, *shortcut_out_, output, relu);
}

void Residual::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                        Tensor* grad_input) {
  if (!body_out_) throw Error(name() + ": backward before forward");
  if (grad_output.shape() != body_out_->shape())
    throw ShapeError(name() + ": gradient of the output has shape " +
                     to_string(grad_output.shape()) + "; expected " +
                     to_string(body_out_->shape()));
  // The body's input gradient goes straight into grad_input; the shortcut's is added in place.
  body_->backward(input, *body_out_, grad_output, grad_input);
  if (identity_shortcut_) {
    if (grad_input) add(*grad_input, grad_output, *grad_input);
    return;
  }
  shortcut_->backward(input, *shortcut_out_, grad_output, grad_input ? &shortcut_grad_ : nullptr);
  if (grad_input) add(*grad_input, shortcut_grad_, *grad_input);
}

std::vector<Parameter*> Residual::parameters() {
  std::vector<Parameter*> all = body_->parameters();
  for (Parameter* p : shortcut_->parameters()) all.push_back(p);
  return all;
}

std::vector<NamedChild> Residual::children() {
  return {{"body", body_.get()}, {"shortcut", shortcut_.get()}};
}

void Residual::train(bool on) {
  training_ = on;
  body_->train(on);
  shortcut_->train(on);
}

}  // namespace convlab::nn
