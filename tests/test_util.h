// Small helpers shared by the tests.
#pragma once

#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "convlab/error.h"
#include "convlab/tensor/tensor.h"

namespace convlab::test {

// Standard-normal values in the given shape.
inline Tensor random_tensor(const Shape& shape, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  Tensor t(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = d(rng);
  return t;
}

// The same shape and the same bits in every element.
inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

// The message of the convlab::Error that f throws, or "no error".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace convlab::test
