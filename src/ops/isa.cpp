// Run-time choice of the vector instruction set for the kernels.
#include <algorithm>
#include <atomic>

#include "convlab/ops/kernels.h"

namespace convlab::kernels {

namespace {
std::atomic<Isa> limit{Isa::avx512};
}

Isa best_isa() {
  static const Isa best = __builtin_cpu_supports("x86-64-v4")   ? Isa::avx512
                          : __builtin_cpu_supports("x86-64-v3") ? Isa::avx2
                                                                : Isa::generic;
  return best;
}

Isa active_isa() {
  return std::min(best_isa(), limit.load(std::memory_order_relaxed));
}

void set_isa_limit(Isa isa) {
  limit.store(isa, std::memory_order_relaxed);
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512:
      return "avx512";
    case Isa::avx2:
      return "avx2";
    default:
      return "generic";
  }
}

}  // namespace convlab::kernels
