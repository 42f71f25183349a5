// The notebook's "pass one image through the network and inspect the output of each layer".
#pragma once

#include <nlohmann/json.hpp>

#include "convlab/nn/sequential.h"

namespace convlab::experiment {

// Runs `input` through the model; one row per module, containers' children included under
// PyTorch's dotted names: index ("3", "3.body.0"), depth (0 for the model's own layers), type,
// layer (a layer's repr; a container's type), output_shape, parameters (a container's: all of
// its children's). The model's activations are left as this pass made them.
nlohmann::json layer_table(nn::Sequential& model, const Tensor& input);

}  // namespace convlab::experiment
