// The notebook's per-channel decomposition: one filter's output of a Conv2d layer computed by hand
// as the sum, over input channels, of the channel convolved with its own kernel (functional::conv2d
// on channel slices), plus the filter's bias, and compared with the layer's own output.
#pragma once

#include <string>
#include <vector>

#include "convlab/nn/sequential.h"

namespace convlab::experiment {

struct Decomposition {
  std::string layer;       // PyTorch's dotted name of the Conv2d: "2", "3.body.0"
  std::string layer_repr;  // and how it prints
  int64_t filter = 0;
  std::vector<Tensor> contributions;  // one (1, 1, OH, OW) map per input channel
  float bias = 0;                     // the filter's bias (0 if the layer has none)
  bool bias_included = true;
  Tensor combined;       // sum of contributions (+ bias)
  Tensor layer_output;   // the layer's own output for the filter, (1, 1, OH, OW)
  bool matches = false;  // allclose(combined, layer_output, rtol 1e-5, atol 1e-5)
  double max_abs_diff = 0;
};

// Runs `image` (1, C, H, W) through the model and decomposes filter `filter` of layer `layer`,
// which must be a Conv2d. Throws ValueError naming the conv layers if it is not, or the valid range
// for a filter index out of range. include_bias=false leaves the bias out of the sum (the check
// then fails wherever the bias is not zero: a way to see what the bias contributes).
// `layer` is a dotted name as in inspect and state_dict ("3.body.0"), or a top-level index.
Decomposition decompose(nn::Sequential& model, const Tensor& image, const std::string& layer,
                        int64_t filter, bool include_bias = true);
Decomposition decompose(nn::Sequential& model, const Tensor& image, size_t layer, int64_t filter,
                        bool include_bias = true);

}  // namespace convlab::experiment
