#include "convlab/tensor/shape.h"

#include "convlab/error.h"

namespace convlab {

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string to_string(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void check_shape(const Shape& shape, const std::string& where) {
  if (shape.size() > 4)
    throw ValueError(where + ": tensors have at most 4 dimensions; got shape " + to_string(shape));
  for (int64_t d : shape)
    if (d < 0) throw ValueError(where + ": negative extent in shape " + to_string(shape));
}

}  // namespace convlab
