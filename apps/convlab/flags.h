// Flags whose values are checked strictly: a whole number is refused, never clamped or wrapped,
// when it has a sign it may not have, a fraction, trailing text or too many digits; a real number
// is refused when it is NaN, infinite or out of range; a path is refused when empty. Every refusal
// is a CLI::ValidationError, so the tool exits 2 with one line that names the flag and its bounds.
#pragma once

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "convlab/error.h"

namespace convlab::cli {

// "1e-06", "0.999999", "100": short, readable bounds (never 309 digits).
inline std::string readable(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// A whole number in [lo, hi].
template <typename T>
CLI::Option* add_int_flag(CLI::App* cmd, const std::string& name, T& target, T lo, T hi,
                          const std::string& description) {
  const std::string bounds =
      "a whole number from " + std::to_string(lo) + " to " +
      (hi == std::numeric_limits<T>::max() && hi > 1000000000
           ? std::string("2^") + std::to_string(sizeof(T) * 8 - (std::is_signed_v<T> ? 1 : 0)) +
                 "-1"
           : std::to_string(hi));
  auto* opt = cmd->add_option_function<std::string>(
      name,
      [&target, lo, hi, name, bounds](const std::string& text) {
        T v{};
        const char* end = text.data() + text.size();
        const auto [at, ec] = std::from_chars(text.data(), end, v);
        if (text.empty() || ec != std::errc() || at != end || v < lo || v > hi)
          throw CLI::ValidationError(name,
                                     "must be " + bounds + "; got '" + excerpt(text, 40) + "'");
        target = v;
      },
      description);
  opt->default_str(std::to_string(target));
  return opt;
}

// A finite real number in [lo, hi] (or (lo, hi] when lo_open).
inline CLI::Option* add_real_flag(CLI::App* cmd, const std::string& name, double& target, double lo,
                                  double hi, bool lo_open, const std::string& description) {
  const std::string bounds = lo_open
                                 ? "a number above " + readable(lo) + " and at most " + readable(hi)
                                 : "a number from " + readable(lo) + " to " + readable(hi);
  auto* opt = cmd->add_option_function<std::string>(
      name,
      [&target, lo, hi, lo_open, name, bounds](const std::string& text) {
        char* end = nullptr;
        const double v = text.empty() ? NAN : std::strtod(text.c_str(), &end);
        const bool ok = !text.empty() && end == text.c_str() + text.size() && std::isfinite(v) &&
                        (lo_open ? v > lo : v >= lo) && v <= hi;
        if (!ok)
          throw CLI::ValidationError(name,
                                     "must be " + bounds + "; got '" + excerpt(text, 40) + "'");
        target = v;
      },
      description);
  opt->default_str(readable(target));
  return opt;
}

// A path (or name) that must not be empty.
inline CLI::Option* add_path_flag(CLI::App* cmd, const std::string& name, std::string& target,
                                  const std::string& description) {
  auto* opt = cmd->add_option_function<std::string>(
      name,
      [&target, name](const std::string& text) {
        if (text.empty()) throw CLI::ValidationError(name, "must not be empty");
        target = text;
      },
      description);
  if (!target.empty()) opt->default_str(target);
  return opt;
}

}  // namespace convlab::cli
