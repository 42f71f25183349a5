// Reads the golden JSON fixtures written by tools/make_golden.py.
#pragma once

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "convlab/tensor/tensor.h"

namespace convlab::test {

inline nlohmann::json load_fixture(const std::string& name) {
  const std::string path = std::string(CONVLAB_FIXTURES) + "/" + name;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open fixture " + path);
  return nlohmann::json::parse(in);
}

// Values are numbers, or "nan", "inf", "-inf" for what JSON cannot hold.
inline Tensor tensor_from(const nlohmann::json& record) {
  std::vector<float> values;
  for (const auto& v : record.at("values")) {
    if (v.is_number()) {
      values.push_back(v.get<float>());
    } else {
      const std::string s = v.get<std::string>();
      values.push_back(s == "nan"
                           ? std::numeric_limits<float>::quiet_NaN()
                           : (s == "inf" ? 1.0f : -1.0f) * std::numeric_limits<float>::infinity());
    }
  }
  return Tensor(record.at("shape").get<Shape>(), std::move(values));
}

}  // namespace convlab::test
