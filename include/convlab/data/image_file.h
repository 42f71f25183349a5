// Image files (PNG, JPEG, BMP) as model inputs, for convlab predict: decoded with stb_image,
// checked against the model's input size and channels, optionally resized (bilinear, as
// torch.nn.functional.interpolate(mode="bilinear", align_corners=False) without antialiasing),
// scaled to [0, 1] as the data sets are.
#pragma once

#include <string>

#include "convlab/tensor/tensor.h"

namespace convlab::data {

struct ImageSize {
  int64_t channels, height, width;
};

// The image in `path` as a (1, C, H, W) tensor of `want`'s size. An image of another size is an
// IoError naming both sizes unless `resize`; channels must match (RGBA and grey+alpha lose the
// alpha channel). Files whose header promises more pixels than the memory limit allows are
// refused before decoding.
Tensor read_image(const std::string& path, const ImageSize& want, bool resize);

// Bilinear resize of (1, C, H, W) to (1, C, oh, ow), align_corners=False.
Tensor resize_bilinear(const Tensor& image, int64_t oh, int64_t ow);

}  // namespace convlab::data
