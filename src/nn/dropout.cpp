#include "convlab/nn/dropout.h"

#include "convlab/error.h"
#include "convlab/nn/registry.h"
#include "layer_checks.h"

namespace convlab::nn {

Dropout::Dropout(double p) : p_(p) {
  if (!(p_ >= 0 && p_ < 1))
    throw ValueError(repr() + ": p must be at least 0 and less than 1; got " + python_repr(p_));
}

std::string Dropout::repr() const {
  return "Dropout(p=" + python_repr(p_) + ", inplace=False)";
}

void Dropout::forward(const Tensor& input, Tensor& output) {
  output.resize_(input.shape());
  const int64_t n = input.numel();
  const float* x = input.data();
  float* y = output.data();
  masked_ = training_ && p_ > 0;
  if (!masked_) {
    std::copy(x, x + n, y);
    return;
  }
  // A draw u in [0, 1) from the top 24 bits of one 32-bit output; the element is kept if u >= p.
  const float scale = static_cast<float>(1.0 / (1.0 - p_));
  const auto threshold = static_cast<uint32_t>(p_ * 16777216.0);
  keep_.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    keep_[i] = (gen_->next_u32() >> 8) >= threshold;
    y[i] = keep_[i] ? x[i] * scale : 0.0f;
  }
}

void Dropout::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                       Tensor* grad_input) {
  expect_same_shape(*this, "gradient of the output", grad_output.shape(), input.shape());
  if (!grad_input) return;
  grad_input->resize_(input.shape());
  const int64_t n = input.numel();
  const float* gy = grad_output.data();
  float* gx = grad_input->data();
  if (!masked_) {
    std::copy(gy, gy + n, gx);
    return;
  }
  if (keep_.size() != static_cast<size_t>(n)) throw Error(name() + ": backward before forward");
  const float scale = static_cast<float>(1.0 / (1.0 - p_));
  for (int64_t i = 0; i < n; ++i) gx[i] = keep_[i] ? gy[i] * scale : 0.0f;
}

void set_dropout_generator(Module& model, Generator* gen) {
  for (const NamedModule& m : named_modules(model))
    if (auto* d = dynamic_cast<Dropout*>(m.module)) d->set_generator(gen);
}

void register_dropout(LayerRegistry& r) {
  r.add({"Dropout", {"p", "inplace"}, [](const LayerArgs& a, Generator&) -> ModulePtr {
           a.boolean("inplace", false);
           return std::make_shared<Dropout>(a.real("p", 0.5));
         }});
}

}  // namespace convlab::nn
