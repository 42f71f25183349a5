#include "convlab/nn/residual.h"

#include "convlab/error.h"
#include "convlab/nn/layers.h"
#include "convlab/ops/parallel.h"

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

// out = a + b (or += when accumulate), split into fixed chunks so any thread count gives the same.
void add(const Tensor& a, const Tensor& b, Tensor& out) {
  out.resize_(a.shape());
  const int64_t n = a.numel(), chunk = 1 << 14;
  const float *x = a.data(), *y = b.data();
  float* z = out.data();
  parallel_for((n + chunk - 1) / chunk, [&](int64_t t) {
    const int64_t end = std::min(n, (t + 1) * chunk);
    for (int64_t i = t * chunk; i < end; ++i) z[i] = x[i] + y[i];
  });
}

}  // namespace

void Residual::forward(const Tensor& input, Tensor& output) {
  body_out_ = &body_->forward_to(input, body_store_);
  body_->run_forward_hook(input, *body_out_);
  shortcut_out_ = identity_shortcut_ ? &input : &shortcut_->forward_to(input, shortcut_store_);
  shortcut_->run_forward_hook(input, *shortcut_out_);
  if (body_out_->shape() != shortcut_out_->shape())
    output_shape(input.shape());  // throws, naming both
  add(*body_out_, *shortcut_out_, output);
}

void Residual::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                        Tensor* grad_input) {
  if (!body_out_) throw Error(name() + ": backward before forward");
  if (grad_output.shape() != body_out_->shape())
    throw ShapeError(name() + ": gradient of the output has shape " +
                     to_string(grad_output.shape()) + "; expected " +
                     to_string(body_out_->shape()));
  body_->backward(input, *body_out_, grad_output, grad_input ? &body_grad_ : nullptr);
  if (identity_shortcut_) {
    if (grad_input) add(body_grad_, grad_output, *grad_input);
    return;
  }
  shortcut_->backward(input, *shortcut_out_, grad_output, grad_input ? &shortcut_grad_ : nullptr);
  if (grad_input) add(body_grad_, shortcut_grad_, *grad_input);
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
