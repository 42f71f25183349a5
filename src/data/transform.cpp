#include "convlab/data/transform.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "convlab/error.h"

namespace convlab::data {

namespace {

std::vector<float> parse_floats(const std::string& text, const std::string& whole) {
  std::vector<float> v;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const double d = std::strtod(item.c_str(), &end);
    if (item.empty() || *end || !std::isfinite(d))
      throw ValueError("--normalize '" + excerpt(whole, 60) +
                       "' does not parse; use MEAN,MEAN,MEAN/STD,STD,STD, one per channel");
    v.push_back(static_cast<float>(d));
  }
  return v;
}

}  // namespace

Transform Transform::parse(const std::string& augment, const std::string& normalize) {
  Transform t;
  if (!augment.empty() && augment != "none") {
    std::stringstream in(augment);
    std::string item;
    while (std::getline(in, item, ',')) {
      if (item == "crop")
        t.crop = true;
      else if (item == "flip")
        t.flip = true;
      else
        throw ValueError("--augment: unknown transform '" + excerpt(item, 30) +
                         "' (known: crop, flip; e.g. --augment crop,flip)");
    }
  }
  if (!normalize.empty() && normalize != "none") {
    const size_t slash = normalize.find('/');
    if (slash == std::string::npos)
      throw ValueError("--normalize '" + excerpt(normalize, 60) +
                       "' does not parse; use MEAN,MEAN,MEAN/STD,STD,STD, one per channel");
    t.mean = parse_floats(normalize.substr(0, slash), normalize);
    t.std = parse_floats(normalize.substr(slash + 1), normalize);
    if (t.mean.size() != t.std.size() || t.mean.empty())
      throw ValueError("--normalize '" + excerpt(normalize, 60) +
                       "': " + std::to_string(t.mean.size()) + " means but " +
                       std::to_string(t.std.size()) + " standard deviations");
    for (float s : t.std)
      if (!(s > 0)) throw ValueError("--normalize: standard deviations must be positive");
  }
  return t;
}

std::string Transform::augment_text() const {
  if (crop && flip) return "crop,flip";
  return crop ? "crop" : (flip ? "flip" : "");
}

std::string Transform::normalize_text() const {
  if (mean.empty()) return "";
  auto list = [](const std::vector<float>& v) {
    std::string s;
    for (float x : v) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(x));
      s += (s.empty() ? "" : ",") + std::string(buf);
    }
    return s;
  };
  return list(mean) + "/" + list(std);
}

}  // namespace convlab::data
