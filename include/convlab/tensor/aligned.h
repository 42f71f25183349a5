// Storage aligned to 64 bytes so that vector kernels (AVX-512 lines) never straddle cache lines.
// Buffers of 2 MiB and more are mapped on their own, 2 MiB aligned and advised as transparent huge
// pages: a training step's activations are hundreds of megabytes, and touching them 4 KiB at a
// time cost a second of page faults before the first step of a ResNet-20 on a virtual machine.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace convlab {

namespace memory {
inline constexpr std::size_t kHugeBytes = std::size_t{2} << 20;
// Page-aligned anonymous mapping of `bytes` (>= kHugeBytes), rounded up to whole huge pages.
void* map_huge(std::size_t bytes);
void unmap_huge(void* p, std::size_t bytes) noexcept;
}  // namespace memory

template <typename T>
struct AlignedAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  AlignedAllocator() noexcept = default;
  template <typename U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    if (bytes >= memory::kHugeBytes) return static_cast<T*>(memory::map_huge(bytes));
    return static_cast<T*>(::operator new(bytes, kAlign));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (n * sizeof(T) >= memory::kHugeBytes)
      memory::unmap_huge(p, n * sizeof(T));
    else
      ::operator delete(p, kAlign);
  }
  template <typename U>
  bool operator==(const AlignedAllocator<U>&) const noexcept {
    return true;
  }
};

template <typename T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace convlab
