// The one seeded random generator, passed explicitly to whatever draws numbers (initialisation,
// shuffling). Its engine and transforms are PyTorch's CPU generator's: mt19937 seeded as
// torch.manual_seed(seed) seeds it, and uniform_(from, to) on float tensors maps each 32-bit draw
// the same way, so the same seed gives PyTorch's own initial weights, bit for bit.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace convlab {

class Tensor;

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manual_seed(seed); }
  void manual_seed(uint64_t seed) { engine_.seed(static_cast<uint32_t>(seed & 0xffffffffu)); }

  uint32_t next_u32() { return static_cast<uint32_t>(engine_()); }
  // One float from [from, to): PyTorch's uniform_real_distribution<float> on the CPU.
  float uniform(float from, float to);
  // Fills t with uniform(from, to) in storage order, as torch.Tensor.uniform_ does.
  void fill_uniform(Tensor& t, float from, float to);
  // Unbiased integer in [0, n) (rejection sampling), for shuffling.
  uint64_t below(uint64_t n);

  // The engine's full state as text, for checkpoints; restore() takes what state() gave.
  std::string state() const;
  void restore(const std::string& state);

 private:
  std::mt19937 engine_;
};

}  // namespace convlab
