// Fuzz target: the model-file parser (nn::parse_model), then the shape and memory check that
// every command runs on a parsed model before building a batch (nn::check_model). Any text must
// end in a model or a convlab::Error, never a crash, an overflow, a huge allocation or a hang.
#include <string>

#include "convlab/error.h"
#include "convlab/nn/models.h"
#include "convlab/tensor/random.h"
#include "fuzz_entry.h"

namespace convlab_fuzz {

int model_text(const uint8_t* data, size_t size) {
  // The CLI refuses a model file over this cap before reading it; larger inputs cannot occur.
  if (size > convlab::nn::kMaxModelFileBytes) return -1;  // -1: not added to the corpus
  const std::string text(reinterpret_cast<const char*>(data), size);
  convlab::Generator gen(0);
  std::shared_ptr<convlab::nn::Sequential> model;
  try {
    model = convlab::nn::parse_model(text, "fuzz", gen);
  } catch (const convlab::Error&) {
    return 0;
  }
  try {
    // What `convlab train` checks: a CIFAR-10 batch (here of 2), 10 classes, training memory.
    convlab::nn::check_model(*model, {2, 3, 32, 32}, 10, /*training=*/true);
  } catch (const convlab::Error&) {
  }
  return 0;
}

}  // namespace convlab_fuzz

CONVLAB_FUZZ_TARGET(model_text)
