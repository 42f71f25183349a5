// Shape of a tensor: up to four extents, NCHW order for images, OIHW for convolution weights.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace convlab {

using Shape = std::vector<int64_t>;

// Number of elements a shape holds (1 for the empty shape of a scalar); ValueError on overflow.
int64_t numel(const Shape& shape);

// "[1, 3, 5, 5]": the list PyTorch prints inside torch.Size(...).
std::string to_string(const Shape& shape);

// Throws ValueError if an extent is negative, the rank is above the supported four, the element
// count overflows, or the tensor would not fit in the memory limit (convlab/limits.h).
void check_shape(const Shape& shape, const std::string& where);

}  // namespace convlab
