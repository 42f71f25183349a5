#include "convlab/optim/optimizer.h"

#include <algorithm>
#include <cmath>

#include "convlab/error.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"

namespace convlab::optim {

namespace {

void check_positive(double v, const char* what, bool allow_zero) {
  if (!std::isfinite(v) || v < 0 || (!allow_zero && v == 0))
    throw ValueError(std::string(what) + " must be " + (allow_zero ? "non-negative" : "positive") +
                     "; got " + std::to_string(v));
}

Tensor scalar_tensor(double v) {
  return Tensor({1}, std::vector<float>{static_cast<float>(v)});
}

const Tensor& state_entry(const std::map<std::string, Tensor>& state, const std::string& key,
                          const Shape& shape) {
  auto it = state.find(key);
  if (it == state.end()) throw IoError("optimizer state is missing '" + key + "'");
  if (it->second.shape() != shape)
    throw IoError("optimizer state '" + key + "' has shape " + to_string(it->second.shape()) +
                  "; expected " + to_string(shape));
  return it->second;
}

// Adam's element-wise update, compiled for each instruction set and chosen by active_isa(), as
// the kernels are. Each element gets the same IEEE operations in the same order whatever set runs
// it (no fused multiply-add: -ffp-contract=off; square root and division round exactly), so every
// set gives the baseline's bits (tests/recipe_test.cpp runs each).
struct AdamScalars {
  float step_size, bc2_sqrt, b1, b2, one_minus_b1, one_minus_b2, eps, wd, decay;
  bool decoupled;
};

[[gnu::always_inline]] inline void adam_update_body(const AdamScalars& a, int64_t n,
                                                    float* __restrict w, const float* __restrict gp,
                                                    float* __restrict m, float* __restrict v) {
  const AdamScalars s = a;  // by value: the loop's scalars stay in registers
  if (s.decoupled)
    for (int64_t k = 0; k < n; ++k) w[k] = w[k] * s.decay;  // param.mul_(1 - lr * weight_decay)
  for (int64_t k = 0; k < n; ++k) {
    const float g = s.wd != 0 ? gp[k] + s.wd * w[k] : gp[k];
    m[k] = m[k] * s.b1 + s.one_minus_b1 * g;  // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    v[k] = v[k] * s.b2 + s.one_minus_b2 * g * g;
    const float denom = std::sqrt(v[k]) / s.bc2_sqrt + s.eps;  // eps outside the square root
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    w[k] = w[k] + (-s.step_size) * (m[k] / denom);
  }
}

#define CONVLAB_ADAM_UPDATE(name, attributes)                                                  \
  attributes void name(const AdamScalars& a, int64_t n, float* __restrict w,                   \
                       const float* __restrict gp, float* __restrict m, float* __restrict v) { \
    adam_update_body(a, n, w, gp, m, v);                                                       \
  }
CONVLAB_ADAM_UPDATE(adam_update_avx512, __attribute__((target("arch=x86-64-v4"))))
CONVLAB_ADAM_UPDATE(adam_update_avx2, __attribute__((target("arch=x86-64-v3"))))
CONVLAB_ADAM_UPDATE(adam_update_generic, )
#undef CONVLAB_ADAM_UPDATE

using AdamUpdate = void (*)(const AdamScalars&, int64_t, float*, const float*, float*, float*);
AdamUpdate adam_update_for(kernels::Isa isa) {
  switch (isa) {
    case kernels::Isa::avx512:
      return adam_update_avx512;
    case kernels::Isa::avx2:
      return adam_update_avx2;
    default:
      return adam_update_generic;
  }
}

}  // namespace

void Optimizer::zero_grad() {
  for (nn::Parameter* p : params_) p->grad.fill_(0.0f);
}

// ---- SGD ----

SGD::SGD(std::vector<nn::Parameter*> params, SGDOptions options)
    : Optimizer(std::move(params)), o_(options) {
  check_positive(o_.lr, "SGD: lr", true);
  check_positive(o_.momentum, "SGD: momentum", true);
  check_positive(o_.weight_decay, "SGD: weight_decay", true);
  if (o_.nesterov && (o_.momentum <= 0 || o_.dampening != 0))
    throw ValueError("SGD: Nesterov momentum requires a momentum and zero dampening");
}

void SGD::step() {
  const float lr = static_cast<float>(o_.lr), wd = static_cast<float>(o_.weight_decay);
  const float mom = static_cast<float>(o_.momentum), damp = static_cast<float>(1.0 - o_.dampening);
  const bool first = momentum_.empty() && o_.momentum != 0;
  if (first)
    for (nn::Parameter* p : params_) momentum_.emplace_back(p->grad.shape());
  for (size_t i = 0; i < params_.size(); ++i) {
    float* w = params_[i]->value.data();
    const float* g = params_[i]->grad.data();
    float* buf = o_.momentum != 0 ? momentum_[i].data() : nullptr;
    for (int64_t k = 0; k < params_[i]->value.numel(); ++k) {
      float d = wd != 0 ? g[k] + wd * w[k] : g[k];  // d_p = grad.add(param, alpha=weight_decay)
      if (buf) {
        buf[k] = first ? d
                       : buf[k] * mom +
                             damp * d;  // buf = clone(d_p), then buf*momentum + (1-dampening)*d_p
        d = o_.nesterov ? d + mom * buf[k] : buf[k];
      }
      w[k] = w[k] - lr * d;  // param.add_(d_p, alpha=-lr)
    }
  }
  ++steps_;
}

std::map<std::string, Tensor> SGD::state_tensors() const {
  std::map<std::string, Tensor> s{{"step", scalar_tensor(static_cast<double>(steps_))}};
  for (size_t i = 0; i < momentum_.size(); ++i)
    s[std::to_string(i) + ".momentum_buffer"] = momentum_[i];
  return s;
}

void SGD::load_state_tensors(const std::map<std::string, Tensor>& state) {
  steps_ = static_cast<int64_t>(state_entry(state, "step", {1}).item());
  momentum_.clear();
  if (state.count("0.momentum_buffer"))
    for (size_t i = 0; i < params_.size(); ++i)
      momentum_.push_back(
          state_entry(state, std::to_string(i) + ".momentum_buffer", params_[i]->value.shape()));
}

// ---- Adam ----

Adam::Adam(std::vector<nn::Parameter*> params, AdamOptions options)
    : Optimizer(std::move(params)), o_(options) {
  check_positive(o_.lr, "Adam: lr", true);
  check_positive(o_.eps, "Adam: eps", true);
  check_positive(o_.weight_decay, "Adam: weight_decay", true);
  if (!(o_.beta1 >= 0 && o_.beta1 < 1 && o_.beta2 >= 0 && o_.beta2 < 1))
    throw ValueError("Adam: betas must be in [0, 1)");
  for (nn::Parameter* p : params_) {
    exp_avg_.emplace_back(p->value.shape());
    exp_avg_sq_.emplace_back(p->value.shape());
  }
}

void Adam::step() {
  ++steps_;
  // Scalars in double as PyTorch computes them in Python, used as float in the tensor ops.
  const double bias_correction1 = 1.0 - std::pow(o_.beta1, static_cast<double>(steps_));
  const double bias_correction2 = 1.0 - std::pow(o_.beta2, static_cast<double>(steps_));
  const float step_size = static_cast<float>(o_.lr / bias_correction1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float b1 = static_cast<float>(o_.beta1), b2 = static_cast<float>(o_.beta2);
  const float one_minus_b1 = static_cast<float>(1.0 - o_.beta1),
              one_minus_b2 = static_cast<float>(1.0 - o_.beta2);
  const float eps = static_cast<float>(o_.eps);
  // Adam adds weight_decay * w to the gradient; AdamW scales w by 1 - lr * weight_decay (in
  // double, as PyTorch computes the scalar) before the update.
  const float wd = o_.decoupled ? 0.0f : static_cast<float>(o_.weight_decay);
  const float decay = static_cast<float>(1.0 - o_.lr * o_.weight_decay);
  const bool decoupled = o_.decoupled && o_.weight_decay != 0;
  const AdamScalars scalars{step_size,    bc2_sqrt, b1, b2,    one_minus_b1,
                            one_minus_b2, eps,      wd, decay, decoupled};
  const AdamUpdate adam_update = adam_update_for(kernels::active_isa());
  constexpr int64_t kChunk = 16384;
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t n = params_[i]->value.numel();
    float* w = params_[i]->value.data();
    const float* gp = params_[i]->grad.data();
    float* m = exp_avg_[i].data();
    float* v = exp_avg_sq_[i].data();
    parallel_for((n + kChunk - 1) / kChunk, [&](int64_t c) {
      const int64_t s = c * kChunk;
      adam_update(scalars, std::min(kChunk, n - s), w + s, gp + s, m + s, v + s);
    });
  }
}

std::map<std::string, Tensor> Adam::state_tensors() const {
  std::map<std::string, Tensor> s{{"step", scalar_tensor(static_cast<double>(steps_))}};
  for (size_t i = 0; i < exp_avg_.size(); ++i) {
    s[std::to_string(i) + ".exp_avg"] = exp_avg_[i];
    s[std::to_string(i) + ".exp_avg_sq"] = exp_avg_sq_[i];
  }
  return s;
}

void Adam::load_state_tensors(const std::map<std::string, Tensor>& state) {
  steps_ = static_cast<int64_t>(state_entry(state, "step", {1}).item());
  for (size_t i = 0; i < params_.size(); ++i) {
    exp_avg_[i] = state_entry(state, std::to_string(i) + ".exp_avg", params_[i]->value.shape());
    exp_avg_sq_[i] =
        state_entry(state, std::to_string(i) + ".exp_avg_sq", params_[i]->value.shape());
  }
}

}  // namespace convlab::optim
