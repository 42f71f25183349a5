#include "convlab/tensor/aligned.h"

#include <sys/mman.h>

#include <cstdint>

namespace convlab::memory {

namespace {
std::size_t round_up(std::size_t bytes) {
  return (bytes + kHugeBytes - 1) & ~(kHugeBytes - 1);
}
}  // namespace

void* map_huge(std::size_t bytes) {
  const std::size_t size = round_up(bytes);
  if (size < bytes) throw std::bad_alloc();
  // Map one huge page more than needed, then trim both ends so the block starts on a 2 MiB
  // boundary: only aligned 2 MiB ranges can become huge pages.
  const std::size_t span = size + kHugeBytes;
  if (span < size) throw std::bad_alloc();
  void* raw = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + kHugeBytes - 1) & ~(std::uintptr_t{kHugeBytes} - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const std::uintptr_t end = start + span, used_end = aligned + size;
  if (end > used_end) munmap(reinterpret_cast<void*>(used_end), end - used_end);
  // Advice only: without transparent huge pages the block is still correct, in 4 KiB pages.
  madvise(reinterpret_cast<void*>(aligned), size, MADV_HUGEPAGE);
  return reinterpret_cast<void*>(aligned);
}

void unmap_huge(void* p, std::size_t bytes) noexcept {
  if (p) munmap(p, round_up(bytes));
}

}  // namespace convlab::memory
