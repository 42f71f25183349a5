// Per-thread scratch buffers for the fast kernels: they grow to the largest size asked for and are
// then reused, so a training loop allocates nothing after its first batch.
#pragma once

#include <cstddef>

#include "convlab/tensor/aligned.h"

namespace convlab::kernels {

// Slot i of this thread's scratch, at least n floats, contents unspecified.
inline float* scratch(int slot, size_t n) {
  thread_local AlignedVector<float> buffers[8];  // slots 0..7
  auto& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

}  // namespace convlab::kernels
