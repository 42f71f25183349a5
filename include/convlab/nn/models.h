// The notebook's two networks, and any sequential network from a text file.
#pragma once

#include <memory>
#include <string>

#include "convlab/nn/sequential.h"
#include "convlab/tensor/random.h"

namespace convlab::nn {

// standard: Conv(3->8,k3,p1) ReLU Conv(8->16,k3,p1) ReLU MaxPool(2,2) Flatten Linear(4096->64) ReLU
// Linear(64->10), initialised in PyTorch's order (same seed, same weights as PyTorch).
std::shared_ptr<Sequential> make_standard(Generator& gen);
// sumfirst: ChannelSum, then Conv(1->8,k3,p1) and the rest as standard (the notebook's
// SumFirstCNN).
std::shared_ptr<Sequential> make_sumfirst(Generator& gen);

// A network from text, one layer per line, either as PyTorch prints an nn.Sequential
//   Sequential(
//     (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
//     (1): ReLU()
//   )
// or as constructor calls, "nn." optional: Conv2d(3, 8, kernel_size=3, padding=1). '#' starts a
// comment. Layers: Conv2d, ReLU, MaxPool2d, Flatten, Linear, ChannelSum. Errors are ParseError
// "<source>:<line>: ...". Parameters are initialised from gen in file order.
std::shared_ptr<Sequential> parse_model(const std::string& text, const std::string& source,
                                        Generator& gen);

// Model files hold a few lines; anything larger is refused before it is read.
constexpr uint64_t kMaxModelFileBytes = 1 << 20;

// "standard", "sumfirst", or the path of a model file (at most kMaxModelFileBytes).
std::shared_ptr<Sequential> build_model(const std::string& name_or_path, Generator& gen);

// Checks that the model accepts inputs of this shape (N, C, H, W), N being the batch size, and ends
// in `classes` outputs; throws ShapeError naming the first layer that does not fit (its file line
// if from a file). Then estimates the memory a batch needs (parameters, and in training their
// gradients and optimizer state; every layer's output, and in training its gradient) and throws
// ValueError with the estimate and the limit if it exceeds memory_limit_bytes().
void check_model(Sequential& model, const Shape& input, int64_t classes, bool training = false);

}  // namespace convlab::nn
