#include "convlab/nn/registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "convlab/error.h"

namespace convlab::nn {

// ---- LayerArgs ----

LayerArgs::LayerArgs(std::string layer, const std::vector<std::string>& names,
                     const std::vector<std::pair<std::string, ArgValue>>& args, Fail fail)
    : layer_(std::move(layer)), fail_(std::move(fail)) {
  size_t pos = 0;
  for (const auto& [given_key, value] : args) {
    std::string key = given_key;
    if (key.empty()) {
      if (pos >= names.size())
        this->fail("takes at most " + std::to_string(names.size()) + " positional arguments");
      key = names[pos++];
    } else if (std::find(names.begin(), names.end(), key) == names.end()) {
      this->fail("has no argument '" + excerpt(key, 40) + "'");
    }
    if (values_.count(key)) this->fail("argument '" + key + "' given twice");
    values_[key] = value;
  }
}

void LayerArgs::fail(const std::string& what) const {
  fail_(layer_ + (what.rfind(":", 0) == 0 ? "" : " ") + what);
  std::abort();  // fail_ throws; this line is never reached
}

const ArgValue* LayerArgs::find(const std::string& k) const {
  auto it = values_.find(k);
  return it == values_.end() ? nullptr : &it->second;
}

int64_t LayerArgs::integer(const std::string& k, std::optional<int64_t> fallback) const {
  const ArgValue* v = find(k);
  if (!v) {
    if (!fallback) fail("needs '" + k + "'");
    return *fallback;
  }
  if (v->ints.size() != 1 || v->tuple) fail(": '" + k + "' must be one whole number");
  return v->ints[0];
}

Size2 LayerArgs::size2(const std::string& k, std::optional<Size2> fallback) const {
  const ArgValue* v = find(k);
  if (!v) {
    if (!fallback) fail("needs '" + k + "'");
    return *fallback;
  }
  if (v->ints.size() == 1) return Size2(v->ints[0]);
  if (v->ints.size() == 2) return Size2(v->ints[0], v->ints[1]);
  fail(": '" + k + "' must be a whole number or a pair (h, w)");
}

bool LayerArgs::boolean(const std::string& k, bool fallback) const {
  const ArgValue* v = find(k);
  if (!v) return fallback;
  if (v->word == "True") return true;
  if (v->word == "False") return false;
  fail(": '" + k + "' must be True or False");
}

double LayerArgs::real(const std::string& k, std::optional<double> fallback) const {
  const ArgValue* v = find(k);
  if (!v) {
    if (!fallback) fail("needs '" + k + "'");
    return *fallback;
  }
  if (!v->real || v->tuple) fail(": '" + k + "' must be a number");
  return *v->real;
}

bool LayerArgs::is_none(const std::string& k) const {
  const ArgValue* v = find(k);
  return v && v->word == "None";
}

std::optional<double> LayerArgs::real_or_none(const std::string& k,
                                              std::optional<double> fallback) const {
  if (is_none(k)) return std::nullopt;
  if (!has(k)) return fallback;
  return real(k);
}

// ---- the registry ----

void LayerRegistry::add(LayerSpec spec) {
  const std::string name = spec.name;
  specs_[name] = std::move(spec);
}

const LayerSpec* LayerRegistry::find(const std::string& name) const {
  auto it = specs_.find(name);
  return it == specs_.end() ? nullptr : &it->second;
}

std::vector<std::string> LayerRegistry::names() const {
  std::vector<std::string> n;
  for (const auto& [name, spec] : specs_) n.push_back(name);
  return n;
}

std::string LayerRegistry::known_names() const {
  std::vector<std::string> names{"Sequential", "Residual"};  // the containers, parsed by shape
  for (const auto& [name, spec] : specs_) names.push_back(name);
  std::sort(names.begin(), names.end());
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

const LayerRegistry& LayerRegistry::builtin() {
  static const LayerRegistry registry = [] {
    LayerRegistry r;
    register_conv2d(r);
    register_basic_layers(r);
    register_pooling(r);
    register_batchnorm(r);
    register_dropout(r);
    return r;
  }();
  return registry;
}

// ---- Python's float repr ----

std::string python_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // The shortest %.{p}e that reads back as v, then laid out as Python's float_repr_style 'short':
  // positional for exponents -4 <= e < 16, otherwise d.ddde-XX.
  char buf[64];
  int p = 1;
  for (; p <= 17; ++p) {
    std::snprintf(buf, sizeof buf, "%.*e", p - 1, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s(buf);
  const size_t e = s.find('e');
  const int exponent = std::atoi(s.c_str() + e + 1);
  std::string digits = s.substr(0, e);
  const bool negative = digits[0] == '-';
  if (negative) digits.erase(0, 1);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) {
      out = "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exponent + 1) {
      out = digits + std::string(static_cast<size_t>(exponent + 1) - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, static_cast<size_t>(exponent + 1)) + "." +
            digits.substr(static_cast<size_t>(exponent + 1));
    }
  } else {
    out = digits.substr(0, 1) + (digits.size() > 1 ? "." + digits.substr(1) : "");
    char ex[16];
    std::snprintf(ex, sizeof ex, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    out += ex;
  }
  return negative ? "-" + out : out;
}

}  // namespace convlab::nn
