// Fuzz target: the safetensors reader (safetensors::File: header length, JSON header, offsets
// tiling the data), every entry's conversion (floats of F16/BF16/F32/F64, integer scalars), and
// loading the file into a small model with BatchNorm and a Residual block (train::load_weights:
// keys matched both ways, shapes checked).
#include <vector>

#include "convlab/error.h"
#include "convlab/io/safetensors.h"
#include "convlab/nn/models.h"
#include "convlab/nn/sequential.h"
#include "convlab/train/weights.h"
#include "fuzz_entry.h"

namespace convlab_fuzz {

namespace {

// The model of fuzz/corpus/fuzz_safetensors/small.safetensors (fuzz/make_seeds.py).
const char* kModel =
    "Sequential(\n"
    "  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
    "  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
    "  (2): Residual(\n"
    "    (body): Sequential(\n"
    "      (0): Conv2d(4, 4, kernel_size=(1, 1), stride=(1, 1))\n"
    "    )\n"
    "    (shortcut): Identity()\n"
    "  )\n"
    "  (3): Flatten(start_dim=1, end_dim=-1)\n"
    "  (4): Linear(in_features=16, out_features=2, bias=True)\n"
    ")\n";

}  // namespace

int safetensors(const uint8_t* data, size_t size) {
  static std::shared_ptr<convlab::nn::Sequential> model = [] {
    convlab::Generator gen(0);
    return convlab::nn::parse_model(kModel, "fuzz model", gen);
  }();
  try {
    const convlab::safetensors::File file(std::vector<uint8_t>(data, data + size), "fuzz");
    for (const auto& e : file.entries()) {
      try {
        file.floats(e);
      } catch (const convlab::Error&) {
      }
      try {
        file.integer_scalar(e);
      } catch (const convlab::Error&) {
      }
    }
    convlab::train::load_weights(*model, file);
  } catch (const convlab::Error&) {
  }
  return 0;
}

}  // namespace convlab_fuzz

CONVLAB_FUZZ_TARGET(safetensors)
