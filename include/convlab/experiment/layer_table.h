// The notebook's "pass one image through the network and inspect the output of each layer".
#pragma once

#include <nlohmann/json.hpp>

#include "convlab/nn/sequential.h"

namespace convlab::experiment {

// Runs `input` through the model; one row per layer: index, type, layer (repr), output_shape,
// parameters. The model's activations are left as this pass made them.
nlohmann::json layer_table(nn::Sequential& model, const Tensor& input);

}  // namespace convlab::experiment
