// Dropout(p): in training, each element is zeroed with probability p and the rest scaled by
// 1/(1-p) (inverted dropout, as PyTorch); in evaluation, the identity. The masks come from the
// generator the trainer hands it (the run's one seeded generator, whose state checkpoints keep),
// drawn in element order on one thread, so resume and thread count never change a bit. They need
// not equal PyTorch's masks.
#pragma once

#include <memory>
#include <vector>

#include "convlab/nn/module.h"
#include "convlab/tensor/random.h"

namespace convlab::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  std::string type_name() const override { return "Dropout"; }
  std::string repr() const override;
  Shape output_shape(const Shape& input) const override { return input; }
  void forward(const Tensor& input, Tensor& output) override;
  void backward(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                Tensor* grad_input) override;

  // Where the masks come from; until set, a generator of this layer's own seeded with 0.
  void set_generator(Generator* gen) { gen_ = gen; }
  double p() const { return p_; }

 private:
  double p_;
  Generator own_{0};
  Generator* gen_ = &own_;
  std::vector<uint8_t> keep_;  // the last training forward's mask
  bool masked_ = false;        // whether the last forward applied a mask
};

// Hands `gen` to every Dropout in a module tree.
void set_dropout_generator(Module& model, Generator* gen);

}  // namespace convlab::nn
