// Residual: body(x) + shortcut(x). PyTorch has no such module; convlab defines it, and reads and
// prints it as PyTorch prints a module with two children named body and shortcut:
//   Residual(
//     (body): Sequential( ... )
//     (shortcut): Identity()        # or a Sequential, e.g. a 1x1 stride-2 Conv2d and a BatchNorm2d
//   )
#pragma once

#include "convlab/nn/module.h"

namespace convlab::nn {

class Residual : public Module {
 public:
  Residual(ModulePtr body, ModulePtr shortcut);
  std::string type_name() const override { return "Residual"; }
  std::string repr() const override;
  // The body's output shape, which the shortcut's must equal (a ShapeError names both).
  Shape output_shape(const Shape& input) const override;
  void forward(const Tensor& input, Tensor& output) override;
  // The output gradient flows into both branches; the input gradient is the sum of theirs.
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
  // The block and the ReLU after it, without keeping the sum: Sequential's fusion. The same bits
  // as the two layers; backward takes the ReLU's output.
  void forward_relu(const Tensor& input, Tensor& output);
  void backward_relu(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                     Tensor* grad_input);
  std::vector<Parameter*> parameters() override;
  std::vector<NamedChild> children() override;
  void train(bool on = true) override;

  Module& body() { return *body_; }
  Module& shortcut() { return *shortcut_; }

 private:
  ModulePtr body_, shortcut_;
  bool identity_shortcut_;  // shortcut(x) = x: added straight from the input, without a copy
  Tensor body_store_, shortcut_store_, shortcut_grad_, relu_grad_;
  const Tensor* body_out_ = nullptr;  // the branches' outputs in the last forward
  const Tensor* shortcut_out_ = nullptr;

  void join(const Tensor& input, bool relu, Tensor& output);
};

// PyTorch's _addindent: every line of a child's repr after the first, indented by `spaces`.
std::string indent_repr(const std::string& repr, int spaces);

}  // namespace convlab::nn
