#include "convlab/tensor/random.h"

#include <sstream>

#include "convlab/error.h"
#include "convlab/tensor/tensor.h"

namespace convlab {

float Generator::uniform(float from, float to) {
  // at::uniform_real_distribution<float>: the low 24 bits of one draw scaled to [0, 1), then
  // x * (to - from) + from in double from the float-rounded endpoints, rounded to float once.
  // Checked bit for bit against torch.manual_seed(s); nn.Conv2d(...) in tests/init_test.cpp.
  const uint32_t bits = next_u32() & ((1u << 24) - 1);
  const double x = static_cast<double>(bits) * (1.0 / static_cast<double>(1u << 24));
  return static_cast<float>(x * (static_cast<double>(to) - static_cast<double>(from)) +
                            static_cast<double>(from));
}

void Generator::fill_uniform(Tensor& t, float from, float to) {
  float* p = t.data();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = uniform(from, to);
}

uint64_t Generator::below(uint64_t n) {
  if (n == 0) throw ValueError("Generator.below: the range is empty");
  if (n <= 0xffffffffull) {
    // Rejection sampling on 32-bit draws: no modulo bias.
    const uint64_t limit = (0x100000000ull / n) * n;
    uint64_t r;
    do r = next_u32();
    while (r >= limit);
    return r % n;
  }
  uint64_t r;
  const uint64_t limit = (~0ull / n) * n;
  do r = (static_cast<uint64_t>(next_u32()) << 32) | next_u32();
  while (r >= limit);
  return r % n;
}

std::string Generator::state() const {
  std::ostringstream os;
  os << engine_;
  return os.str();
}

void Generator::restore(const std::string& state) {
  std::istringstream is(state);
  std::mt19937 e;
  is >> e;
  if (is.fail()) throw IoError("Generator.restore: the saved generator state does not parse");
  engine_ = e;
}

}  // namespace convlab
