#include "convlab/limits.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "convlab/error.h"

namespace convlab {

int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r))
    throw ValueError(what + ": the size " + std::to_string(a) + " x " + std::to_string(b) +
                     " overflows");
  return r;
}

int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw ValueError(what + ": the size " + std::to_string(a) + " + " + std::to_string(b) +
                     " overflows");
  return r;
}

int64_t checked_numel(const Shape& shape, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      throw ValueError(what + ": the shape " + to_string(shape) + " has too many elements");
  return n;
}

namespace {

uint64_t limit_from_environment(const char* text) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text, &end);
  double scale = 1;
  if (end && *end) {
    switch (*end) {
      case 'k':
      case 'K':
        scale = 1024.0;
        break;
      case 'm':
      case 'M':
        scale = 1024.0 * 1024;
        break;
      case 'g':
      case 'G':
        scale = 1024.0 * 1024 * 1024;
        break;
      default:
        scale = 0;
    }
    if (end[1] != '\0') scale = 0;
  }
  if (end == text || errno || !(v > 0) || scale == 0 || v * scale > 1e19)
    throw ValueError("CONVLAB_MEMORY_LIMIT='" + excerpt(text, 40) +
                     "' is not a size such as 4G, 512M or 1000000");
  return static_cast<uint64_t>(v * scale);
}

uint64_t compute_limit() {
  if (const char* env = std::getenv("CONVLAB_MEMORY_LIMIT"); env && *env)
    return limit_from_environment(env);
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  uint64_t physical = pages > 0 && page > 0
                          ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page)
                          : uint64_t{4} << 30;
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < physical)
    physical = rl.rlim_cur;
  return physical / 10 * 8;
}

}  // namespace

uint64_t memory_limit_bytes() {
  static const uint64_t limit = compute_limit();
  return limit;
}

std::string human_bytes(uint64_t n) {
  char buf[64];
  const double d = static_cast<double>(n);
  if (n >= (uint64_t{1} << 40))
    std::snprintf(buf, sizeof buf, "%.3g TB", d / static_cast<double>(uint64_t{1} << 40));
  else if (n >= (uint64_t{1} << 30))
    std::snprintf(buf, sizeof buf, "%.1f GB", d / (1 << 30));
  else if (n >= (uint64_t{1} << 20))
    std::snprintf(buf, sizeof buf, "%.1f MB", d / (1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(n));
  return buf;
}

void check_memory(uint64_t bytes, const std::string& what) {
  const uint64_t limit = memory_limit_bytes();
  if (bytes > limit)
    throw ValueError(what + " needs about " + human_bytes(bytes) + "; the memory limit is " +
                     human_bytes(limit) +
                     " (80 % of this machine's memory, or CONVLAB_MEMORY_LIMIT)");
}

}  // namespace convlab
