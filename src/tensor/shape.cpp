#include "convlab/tensor/shape.h"

#include "convlab/error.h"
#include "convlab/limits.h"

namespace convlab {

int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      throw ValueError("shape " + to_string(shape) + " has more elements than can be counted");
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
  const int64_t n = checked_mul(numel(shape), sizeof(float), where + ": shape " + to_string(shape));
  check_memory(static_cast<uint64_t>(n), where + ": a float tensor of shape " + to_string(shape));
}

}  // namespace convlab
