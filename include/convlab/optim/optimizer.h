// Optimizers over a list of Parameters, with PyTorch's exact update rules (torch.optim, 1.13,
// single-tensor path): SGD with momentum, dampening, weight decay and Nesterov; Adam with
// bias correction and eps added outside the square root.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "convlab/nn/module.h"

namespace convlab::optim {

class Optimizer {
 public:
  explicit Optimizer(std::vector<nn::Parameter*> params) : params_(std::move(params)) {}
  virtual ~Optimizer() = default;
  void zero_grad();
  virtual void step() = 0;
  virtual std::string name() const = 0;  // "adam", "sgd"
  // State for checkpoints: named tensors ("0.exp_avg", ...) and scalars ("step").
  virtual std::map<std::string, Tensor> state_tensors() const = 0;
  virtual void load_state_tensors(const std::map<std::string, Tensor>& state) = 0;
  virtual int64_t steps() const = 0;
  // The learning rate of the next steps (a schedule sets it before each epoch).
  virtual void set_lr(double lr) = 0;

 protected:
  std::vector<nn::Parameter*> params_;
};

struct SGDOptions {
  double lr = 0.01, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<nn::Parameter*> params, SGDOptions options);
  void step() override;
  std::string name() const override { return "sgd"; }
  std::map<std::string, Tensor> state_tensors() const override;
  void load_state_tensors(const std::map<std::string, Tensor>& state) override;
  int64_t steps() const override { return steps_; }
  void set_lr(double lr) override { o_.lr = lr; }

 private:
  SGDOptions o_;
  std::vector<Tensor> momentum_;  // empty until the first step, as PyTorch's lazily made buffers
  int64_t steps_ = 0;
};

// decoupled: AdamW (torch.optim.AdamW): each step first scales the weights by 1 - lr * weight_decay
// and leaves the gradient alone; otherwise Adam's L2 decay, added to the gradient.
struct AdamOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool decoupled = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<nn::Parameter*> params, AdamOptions options);
  void step() override;
  std::string name() const override { return o_.decoupled ? "adamw" : "adam"; }
  std::map<std::string, Tensor> state_tensors() const override;
  void load_state_tensors(const std::map<std::string, Tensor>& state) override;
  int64_t steps() const override { return steps_; }
  void set_lr(double lr) override { o_.lr = lr; }

 private:
  AdamOptions o_;
  std::vector<Tensor> exp_avg_, exp_avg_sq_;
  int64_t steps_ = 0;
};

}  // namespace convlab::optim
