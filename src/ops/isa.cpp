// Run-time choice of the vector instruction set for the kernels: the best the CPU has, or lower
// if the environment says so (CONVLAB_ISA=avx2 or generic, to compare or to rule a path out).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "convlab/error.h"
#include "convlab/ops/kernels.h"

namespace convlab::kernels {

namespace {

std::atomic<Isa> limit{Isa::avx512};

Isa from_environment(Isa cpu) {
  const char* env = std::getenv("CONVLAB_ISA");
  if (!env || !*env) return cpu;
  const std::string v = env;
  Isa asked;
  if (v == "avx512")
    asked = Isa::avx512;
  else if (v == "avx2")
    asked = Isa::avx2;
  else if (v == "generic")
    asked = Isa::generic;
  else
    throw ValueError("CONVLAB_ISA must be avx512, avx2 or generic; got '" + excerpt(v, 40) + "'");
  return std::min(cpu, asked);
}

}  // namespace

Isa best_isa() {
  static const Isa best = from_environment(__builtin_cpu_supports("x86-64-v4")   ? Isa::avx512
                                           : __builtin_cpu_supports("x86-64-v3") ? Isa::avx2
                                                                                 : Isa::generic);
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
