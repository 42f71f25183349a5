// 2-D convolution (cross-correlation, as PyTorch's conv2d) as plain functions on raw NCHW data.
//   input  (N, C, H, W)   weight (O, C, KH, KW)   bias (O) or null   output (N, O, OH, OW)
//   OH = (H + 2*PH - KH) / SH + 1, rounded down; likewise OW.
#pragma once

#include <cstdint>
#include <string>

#include "convlab/tensor/shape.h"

namespace convlab {

struct Conv2dGeometry {
  int64_t N, C, H, W;  // input
  int64_t O, KH, KW;   // weight (O, C, KH, KW)
  int64_t SH, SW, PH, PW;
  int64_t OH, OW;  // output

  Shape input_shape() const { return {N, C, H, W}; }
  Shape weight_shape() const { return {O, C, KH, KW}; }
  Shape output_shape() const { return {N, O, OH, OW}; }
};

// Checks every size and returns the geometry, or throws ShapeError / ValueError whose message
// starts with `who` (the layer) and states expected and actual shapes.
Conv2dGeometry conv2d_geometry(const Shape& input, const Shape& weight, int64_t stride_h,
                               int64_t stride_w, int64_t pad_h, int64_t pad_w,
                               const std::string& who);

}  // namespace convlab
