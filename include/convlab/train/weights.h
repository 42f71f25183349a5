// A model's weights as a PyTorch state_dict in a safetensors file, in and out: the way a model
// trained in PyTorch comes to convlab and back (keys as PyTorch names them: "0.weight",
// "3.body.1.running_mean"; num_batches_tracked as I64).
#pragma once

#include <string>

#include "convlab/io/safetensors.h"
#include "convlab/nn/module.h"

namespace convlab::train {

// Loads every parameter and buffer of `model` from the file: each key matched both ways (missing
// and unexpected keys are named, as PyTorch's load_state_dict(strict=True) names them), every
// shape checked, F16/BF16/F64 converted to float. Nothing changes unless all of it holds. A
// PyTorch pickle (.pt, .pth: torch.save) is refused, with the safe formats to use instead.
void load_weights(nn::Module& model, const std::string& path);
// The same from a file already read (the fuzz target's entry).
void load_weights(nn::Module& model, const safetensors::File& file);

// Writes the model's state_dict (F32, num_batches_tracked as I64) atomically; `model_text` goes
// into the metadata beside {"format": "pt"}, as safetensors.torch.save_file writes it.
void save_weights(nn::Module& model, const std::string& path, const std::string& model_text);

}  // namespace convlab::train
