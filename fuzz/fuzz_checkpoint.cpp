// Fuzz target: the checkpoint reader (train::parse_checkpoint) and rebuilding the model it holds
// (train::load_model: parses the header's model text, matches every parameter's shape).
//
// A checkpoint ends in an FNV-1a checksum of everything before it, so almost every mutation would
// stop at "checksum mismatch". The target therefore runs each input twice: as given (which tests
// the checksum check) and, when the stored checksum is wrong, with it recomputed, so the mutations
// reach the header, tensor and model code behind the check.
#include <cstring>
#include <vector>

#include "convlab/error.h"
#include "convlab/train/checkpoint.h"
#include "convlab/train/trainer.h"
#include "fuzz_entry.h"

namespace convlab_fuzz {

namespace {

// The checkpoint's checksum (src/train/checkpoint.cpp): 64-bit FNV-1a, stored little-endian.
uint64_t fnv1a(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

void load(const std::vector<uint8_t>& bytes) {
  try {
    const convlab::train::Checkpoint c = convlab::train::parse_checkpoint(bytes, "fuzz");
    convlab::train::load_model(c);
  } catch (const convlab::Error&) {
  }
}

}  // namespace

int checkpoint(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  load(bytes);
  if (size >= 8) {
    const uint64_t sum = fnv1a(bytes.data(), size - 8);
    if (std::memcmp(&sum, bytes.data() + size - 8, 8) != 0) {
      std::memcpy(bytes.data() + size - 8, &sum, 8);
      load(bytes);
    }
  }
  return 0;
}

}  // namespace convlab_fuzz

CONVLAB_FUZZ_TARGET(checkpoint)
