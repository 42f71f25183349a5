// Sizes computed from input (a model file, a checkpoint, a data header, a flag) are checked here,
// in one place: products and sums that would overflow int64 are ValueErrors, and what would not
// fit in the machine's memory is refused before it is allocated, with the estimate and the limit.
#pragma once

#include <cstdint>
#include <string>

#include "convlab/tensor/shape.h"

namespace convlab {

// a * b and a + b for sizes (both >= 0); overflow throws ValueError "<what>: ... overflows".
int64_t checked_mul(int64_t a, int64_t b, const std::string& what);
int64_t checked_add(int64_t a, int64_t b, const std::string& what);
// The element count of a shape, or ValueError "<what>: the shape [..] has too many elements".
int64_t checked_numel(const Shape& shape, const std::string& what);

// The memory convlab allows itself: CONVLAB_MEMORY_LIMIT (bytes, or with a K, M or G suffix) when
// set, else 80 % of the physical memory (or of RLIMIT_AS, if lower). Read once.
uint64_t memory_limit_bytes();

// Throws ValueError "<what> needs about X; the memory limit is Y" when bytes exceed the limit.
void check_memory(uint64_t bytes, const std::string& what);

// "1.5 GB", "12.0 MB", "512 bytes".
std::string human_bytes(uint64_t bytes);

}  // namespace convlab
