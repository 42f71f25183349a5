// Sequential: layers applied in order. It keeps every layer's output from the last forward pass
// (the buffers are reused from batch to batch) so that backward can run the chain in reverse.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "convlab/nn/module.h"
#include "convlab/ops/kernels.h"

namespace convlab::nn {

class Sequential : public Module {
 public:
  // Appends a layer. Errors from it will be prefixed "layer i" (or `where`, e.g. "model.txt:4").
  void push_back(ModulePtr layer, std::string where = "");
  size_t size() const { return layers_.size(); }
  Module& operator[](size_t i) { return *layers_.at(i); }
  const Module& operator[](size_t i) const { return *layers_.at(i); }

  std::string type_name() const override { return "Sequential"; }
  // PyTorch's multi-line print(model): "Sequential(\n  (0): Conv2d(...)\n ...\n)".
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override;
  // Each layer's output shape for an input shape, in order (the notebook's layer table).
  std::vector<Shape> layer_shapes(const Shape& input) const;

  // Runs the chain and returns the last output (valid until the next forward).
  const Tensor& forward(const Tensor& input);
  void forward(const Tensor& input, Tensor& output) override;
  const Tensor& forward_to(const Tensor& input, Tensor&) override { return forward(input); }
  // Backward through the last forward's activations; `input` must be the tensor forward saw.
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;
  void backward(const Tensor& grad_output, Tensor* grad_input = nullptr);
  // The output of layer i in the last forward pass (an error for a layer fused into the next, or
  // chained into it in inference).
  const Tensor& activation(size_t i) const;

  // Fusion: when on, forward runs Conv2d -> ReLU [-> MaxPool2d(2)] as one kernel per image
  // (kernels::ConvFusion), BatchNorm -> ReLU as one pass and Flatten -> Linear without the
  // flattened copy (the Linear reads its input in place), with the same numbers; the outputs of
  // the layers fused into a later one are then not kept. Training and evaluation turn it on (for
  // the Sequentials nested inside too); inspection keeps it off.
  void set_fusion(bool on);
  bool fusion() const { return fusion_; }
  // Inference: no backward follows the forward passes (evaluation, prediction), so with fusion on
  // a Conv2d -> BatchNorm in evaluation mode [-> ReLU [-> MaxPool2d(2)]] also runs as one kernel
  // per image (the same bits), and a fused convolution whose output only feeds the next
  // convolution hands it over in cache (Conv2d::forward_chain; that output is not kept). Backward
  // after such a forward is an error. Reaches nested Sequentials as fusion does.
  void set_inference(bool on);
  bool inference() const { return inference_; }

  std::vector<Parameter*> parameters() override;
  std::vector<NamedChild> children() override;
  void train(bool on = true) override;
  // state_dict names of the parameters: "0.weight", "0.bias", "2.weight", ...
  std::vector<std::string> parameter_names();
  void zero_grad();

 private:
  std::vector<ModulePtr> layers_;
  // One step of the last forward: layers first..last, a fused group when first < last.
  struct Step {
    size_t first, last;
    kernels::ConvFusion fusion;    // a convolution's fused group
    bool batch_norm_relu = false;  // a BatchNorm and the ReLU after it
    bool conv_batch_norm = false;  // inference: layer first + 1 is a BatchNorm in the kernel
    bool residual_relu = false;    // a Residual and the ReLU after it
    bool chained = false;          // inference: a convolution step handing its output to the next
    bool flatten_linear = false;   // a Flatten and the Linear after it: no flattened copy
  };
  Step plan_step(size_t i, const Shape& input) const;
  // The convolution step's fusion, with its BatchNorm's affine (affine_) when it has one.
  kernels::ConvFusion fusion_of(const Step& step);

  std::vector<Tensor> outputs_;
  std::vector<bool> kept_;                    // outputs_[i] holds layer i's output
  std::vector<std::vector<uint8_t>> argmax_;  // per fused group with pooling, at its first layer
  std::vector<Step> steps_;
  bool fusion_ = false;
  bool inference_ = false;
  // Per Conv2d -> BatchNorm group (at the convolution's index): the BatchNorm's mean, scale, shift.
  std::vector<std::array<std::vector<double>, 3>> affine_;
  size_t first_with_parameters_ = 0;  // index of the first layer with parameters, or size()
  const Tensor* input_ = nullptr;
  std::vector<Tensor> grads_;  // grads_[i]: gradient of outputs_[i]
};

// Fusion and inference on for a scope (evaluation, prediction), then back to what they were.
class InferenceScope {
 public:
  explicit InferenceScope(Sequential& model)
      : model_(model), fusion_(model.fusion()), inference_(model.inference()) {
    model_.set_fusion(true);
    model_.set_inference(true);
  }
  ~InferenceScope() {
    model_.set_inference(inference_);
    model_.set_fusion(fusion_);
  }
  InferenceScope(const InferenceScope&) = delete;
  InferenceScope& operator=(const InferenceScope&) = delete;

 private:
  Sequential& model_;
  bool fusion_, inference_;
};

// Fusion on for a scope, then back to what it was.
class FusionScope {
 public:
  explicit FusionScope(Sequential& model) : model_(model), previous_(model.fusion()) {
    model_.set_fusion(true);
  }
  ~FusionScope() { model_.set_fusion(previous_); }
  FusionScope(const FusionScope&) = delete;
  FusionScope& operator=(const FusionScope&) = delete;

 private:
  Sequential& model_;
  bool previous_;
};

}  // namespace convlab::nn
