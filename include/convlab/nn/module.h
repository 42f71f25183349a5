// Module: a layer that owns its Parameters and calls ops. Knows nothing of optimizers or files.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convlab/tensor/tensor.h"

namespace convlab::nn {

// A learnable tensor and the gradient that backward accumulates into it.
struct Parameter {
  std::string name;  // "weight", "bias"
  Tensor value;
  Tensor grad;
};

// State that is saved with the model but not learned (PyTorch's register_buffer): BatchNorm's
// running_mean, running_var and num_batches_tracked. Kept as float; `integer` marks a buffer that
// PyTorch holds as int64 (exported as such).
struct Buffer {
  std::string name;
  Tensor value;
  bool integer = false;
};

class Module;

// A child of a container with its PyTorch name: "0", "body", "shortcut".
struct NamedChild {
  std::string name;
  Module* module;
};

class Module {
 public:
  virtual ~Module() = default;

  // "Conv2d": the class name PyTorch prints in a layer table.
  virtual std::string type_name() const = 0;
  // PyTorch's repr of the layer: "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))".
  virtual std::string repr() const = 0;
  // Output shape for an input shape, or a ShapeError naming this layer, expected and actual shapes.
  virtual Shape output_shape(const Shape& input) const = 0;

  // Computes output from input; `output` is resized in place so that its storage is reused.
  virtual void forward(const Tensor& input, Tensor& output) = 0;
  // forward, returning where the output is: `storage`, or a buffer of the module's own (a
  // Sequential keeps its last layer's output), which saves a copy. Valid until the next forward.
  virtual const Tensor& forward_to(const Tensor& input, Tensor& storage) {
    forward(input, storage);
    return storage;
  }
  // Given the forward pass's input and output and dL/doutput: accumulates parameter gradients and,
  // if grad_input is not null, writes dL/dinput into it.
  virtual void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                        Tensor* grad_input) = 0;

  // Every learnable tensor of this module and its descendants, in state_dict order.
  virtual std::vector<Parameter*> parameters() { return {}; }
  // This module's own buffers (a container returns none: its children hold theirs).
  virtual std::vector<Buffer*> buffers() { return {}; }
  // A container's children, in order; a layer has none.
  virtual std::vector<NamedChild> children() { return {}; }

  // Train or evaluation mode, as PyTorch's module.train() / module.eval(): BatchNorm and Dropout
  // behave differently. Containers pass it down to every child.
  virtual void train(bool on = true) { training_ = on; }
  void eval() { train(false); }
  bool is_training() const { return training_; }

  Tensor operator()(const Tensor& input) {
    Tensor out;
    forward(input, out);
    return out;
  }

  // PyTorch's register_forward_hook: called with the module's input and output each time the
  // container holding it runs it (Sequential, Residual). A hooked layer is never fused with its
  // neighbours, so that its output exists. An empty function removes the hook.
  using ForwardHook = std::function<void(const Tensor& input, const Tensor& output)>;
  void set_forward_hook(ForwardHook hook) { hook_ = std::move(hook); }
  bool has_forward_hook() const { return static_cast<bool>(hook_); }
  void run_forward_hook(const Tensor& input, const Tensor& output) const {
    if (hook_) hook_(input, output);
  }

  // How errors name this layer; a container sets it to "layer 0 (Conv2d(...))".
  const std::string& name() const { return name_.empty() ? cached_repr() : name_; }
  void set_name(std::string name) { name_ = std::move(name); }

 private:
  // A layer's repr() depends only on its fixed options, so it is built once (errors and every
  // forward of an unnamed layer use it). Containers are named by whoever holds them.
  const std::string& cached_repr() const {
    if (repr_.empty()) repr_ = repr();
    return repr_;
  }
  std::string name_;
  mutable std::string repr_;
  ForwardHook hook_;

 protected:
  bool training_ = true;
};

using ModulePtr = std::shared_ptr<Module>;

// PyTorch's state_dict names and tensors of a module tree: "0.weight", "3.body.1.running_mean".
// Parameters and buffers in module order, each module's parameters before its buffers.
struct NamedTensor {
  std::string name;
  Tensor* value;
  bool is_parameter;
  bool integer;  // a buffer PyTorch keeps as int64
};
std::vector<NamedTensor> state_dict(Module& module, const std::string& prefix = "");

// Every module of a tree with its dotted path ("", "0", "3.body.0"), depth first, parents first.
struct NamedModule {
  std::string path;
  Module* module;
};
std::vector<NamedModule> named_modules(Module& module, const std::string& prefix = "");

}  // namespace convlab::nn
