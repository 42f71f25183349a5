// Stand-ins for the two library files clang 14 cannot compile: src/ops/conv2d_direct.cpp (GCC's
// __builtin_shuffle and vector asm constraints, in src/ops/simd.h) and src/ops/isa.cpp
// (__builtin_cpu_supports("x86-64-v4"), which clang 14 does not know).
//
// The readers never run a kernel: parsing, check_model and load_model only build layers and
// compute shapes. Should a target ever run a forward pass, these stubs make it take the portable
// paths: the generic instruction set, and the GEMM convolution (the direct one never applies).
#include <cstdio>
#include <cstdlib>

#include "ops/conv2d_direct.h"

namespace convlab::kernels {

Isa best_isa() { return Isa::generic; }
Isa active_isa() { return Isa::generic; }
void set_isa_limit(Isa) {}
const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "generic";
  }
}

bool direct_conv_applies(const Conv2dGeometry&) { return false; }

// Unreachable while direct_conv_applies is false.
void conv2d_forward_direct(const Conv2dGeometry&, ConvFusion, const float*, const float*,
                           const float*, float*, uint8_t*) {
  std::fputs("fuzz kernel_stubs: conv2d_forward_direct called\n", stderr);
  std::abort();
}
void conv2d_backward_direct(const Conv2dGeometry&, ConvFusion, const float*, const float*,
                            const float*, const uint8_t*, const float*, float*, float*, float*) {
  std::fputs("fuzz kernel_stubs: conv2d_backward_direct called\n", stderr);
  std::abort();
}

}  // namespace convlab::kernels
