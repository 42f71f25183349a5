// Module: a layer that owns its Parameters and calls ops. Knows nothing of optimizers or files.
#pragma once

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
  // Given the forward pass's input and output and dL/doutput: accumulates parameter gradients and,
  // if grad_input is not null, writes dL/dinput into it.
  virtual void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                        Tensor* grad_input) = 0;

  virtual std::vector<Parameter*> parameters() { return {}; }

  Tensor operator()(const Tensor& input) {
    Tensor out;
    forward(input, out);
    return out;
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
};

using ModulePtr = std::shared_ptr<Module>;

}  // namespace convlab::nn
