// Fuzz target: the ONNX importer (nn::parse_onnx): protobuf parsing, ONNX's checker, then the
// importer's own passes (constants and shape arithmetic, the data path, Residual forks) and the
// model text it renders.
#include <vector>

#include "convlab/error.h"
#include "convlab/nn/onnx.h"
#include "fuzz_entry.h"

namespace convlab_fuzz {

int onnx(const uint8_t* data, size_t size) {
  try {
    convlab::nn::parse_onnx(std::vector<uint8_t>(data, data + size), "fuzz");
  } catch (const convlab::Error&) {
  }
  return 0;
}

}  // namespace convlab_fuzz

CONVLAB_FUZZ_TARGET(onnx)
