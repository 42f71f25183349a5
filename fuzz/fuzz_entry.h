// What every fuzz target shares: the memory limit, and the libFuzzer entry points.
//
// Each target defines `int convlab_fuzz::<name>(const uint8_t*, size_t)` and closes its file with
// CONVLAB_FUZZ_TARGET(<name>), which defines libFuzzer's entry points around it. The replay program
// (replay.cpp) compiles all targets into one executable with CONVLAB_FUZZ_REPLAY set: then the
// macro defines nothing and replay.cpp calls the named functions itself.
//
// A target catches convlab::Error (every error the library throws on purpose) and nothing else:
// any other exception escapes to libFuzzer, which reports it as a crash ("deadly signal" after
// std::terminate), as are sanitizer reports, leaks, timeouts and out-of-memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>

namespace convlab_fuzz {

// The library refuses a model or a tensor that would not fit in CONVLAB_MEMORY_LIMIT. 32M keeps
// every deliberate refusal far below libFuzzer's -rss_limit_mb=2048 and -malloc_limit_mb=2048, so
// that hitting those limits means the library allocated something it should have refused; and it
// keeps the fuzzer parsing rather than filling a legitimately large weight tensor (a 60 MB Conv2d
// takes over 10 s to initialise under ASan and coverage: fuzz/regressions/fuzz_model_text/
// large_kernel_slow_init). Must run before the library first reads the limit (it reads it once).
inline void set_memory_limit() {
  setenv("CONVLAB_MEMORY_LIMIT", "32M", /*overwrite=*/1);
}

int model_text(const uint8_t* data, size_t size);
int checkpoint(const uint8_t* data, size_t size);
int cifar10(const uint8_t* data, size_t size);
int mnist(const uint8_t* data, size_t size);
int safetensors(const uint8_t* data, size_t size);
int onnx(const uint8_t* data, size_t size);

}  // namespace convlab_fuzz

#ifdef CONVLAB_FUZZ_REPLAY
#define CONVLAB_FUZZ_TARGET(name)
#else
#define CONVLAB_FUZZ_TARGET(name)                                           \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {                      \
    convlab_fuzz::set_memory_limit();                                       \
    return 0;                                                               \
  }                                                                         \
  extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { \
    return convlab_fuzz::name(data, size);                                  \
  }
#endif
