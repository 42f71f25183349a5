// 2-D max pooling geometry: input (N, C, H, W) -> output (N, C, OH, OW) with
// OH = (H + 2*PH - KH) / SH + 1 rounded down, as PyTorch (ceil_mode=False).
#pragma once

#include <cstdint>
#include <string>

#include "convlab/tensor/shape.h"

namespace convlab {

struct Pool2dGeometry {
  int64_t N, C, H, W;
  int64_t KH, KW, SH, SW, PH, PW;
  int64_t OH, OW;
  Shape input_shape() const { return {N, C, H, W}; }
  Shape output_shape() const { return {N, C, OH, OW}; }
};

// Checks sizes (PyTorch's rules: padding at most half the kernel) or throws, naming `who`. With
// ceil_mode the output sizes round up, except that a last window starting in the right or bottom
// padding is dropped (PyTorch's pooling_output_shape).
Pool2dGeometry pool2d_geometry(const Shape& input, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                               int64_t ph, int64_t pw, const std::string& who,
                               bool ceil_mode = false);

}  // namespace convlab
