// Per-thread scratch buffers for the fast kernels: they grow to the largest size asked for and are
// then reused, so a training loop allocates nothing after its first batch.
#pragma once

#include <cstddef>

#include "convlab/tensor/aligned.h"

namespace convlab::kernels {

// Slot i of this thread's scratch, at least n floats, contents unspecified. By convention a
// kernel's tasks use slots 0-3 and the calling thread keeps what it hands them in 4-7 (the
// calling thread runs tasks too, so its 0-3 are not its own during a parallel_for). A kernel may
// let its tasks use one of 4-7 it leaves free until the tasks are done (the direct kernel's
// forward and the Winograd backward use 6): no caller may hold a slot across a kernel call. A
// kernel whose tasks call no scratch() at all (matrix products: gemm.h never does) may keep its
// 0-3 across them (Winograd F(4x4, 3x3)'s products spread over the pool), and one whose tasks take
// only slots 0 and 1 may keep 2 and 3 (the same kernel's per-image transforms, spread).
inline float* scratch(int slot, size_t n) {
  thread_local AlignedVector<float> buffers[8];  // slots 0..7
  auto& b = buffers[slot];
  if (b.size() < n) b.resize(n);
  return b.data();
}

}  // namespace convlab::kernels
