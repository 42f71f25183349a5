// Shape checks every layer makes, with messages that name the layer (its file line and path).
#pragma once

#include "convlab/error.h"
#include "convlab/nn/module.h"

namespace convlab::nn {

inline void expect_same_shape(const Module& m, const char* what, const Shape& got,
                              const Shape& want) {
  if (got != want)
    throw ShapeError(m.name() + ": " + what + " has shape " + to_string(got) + "; expected " +
                     to_string(want));
}

}  // namespace convlab::nn
