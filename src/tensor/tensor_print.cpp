// PyTorch's printing of float tensors (torch/_tensor_str.py, version 1.13), rule for rule, so that
// a learner can hold convlab's output next to a notebook's: same widths, precision, modes,
// brackets.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "convlab/tensor/tensor.h"

namespace convlab {

namespace {

constexpr int kPrecision = 4;
constexpr int64_t kThreshold = 1000;  // more elements than this: print only the edges
constexpr int64_t kEdgeItems = 3;
constexpr int kLineWidth = 80;

std::string format_fixed(double v, int precision) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", precision, v);
  return buf;
}

std::string format_sci(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*e", kPrecision, v);
  return buf;
}

// Chooses one notation and one width for every element printed, from the values shown.
class Formatter {
 public:
  explicit Formatter(const std::vector<float>& values) {
    std::vector<double> nz;
    for (float v : values)
      if (std::isfinite(v) && v != 0.0f) nz.push_back(v);
    if (nz.empty()) return;
    double lo = std::fabs(nz[0]), hi = lo;
    for (double v : nz) {
      lo = std::min(lo, std::fabs(v));
      hi = std::max(hi, std::fabs(v));
      if (v != std::ceil(v)) int_mode_ = false;
    }
    if (int_mode_) {
      sci_mode_ = hi / lo > 1000.0 || hi > 1e8;
      for (double v : nz)
        width_ = std::max<size_t>(width_,
                                  sci_mode_ ? format_sci(v).size() : format_fixed(v, 0).size() + 1);
    } else {
      sci_mode_ = hi / lo > 1000.0 || hi > 1e8 || lo < 1e-4;
      for (double v : nz)
        width_ = std::max<size_t>(
            width_, sci_mode_ ? format_sci(v).size() : format_fixed(v, kPrecision).size());
    }
  }

  size_t width() const { return width_; }

  std::string format(double v) const {
    std::string s;
    if (sci_mode_) {
      s = format_sci(v);
    } else if (int_mode_) {
      s = format_fixed(v, 0);
      if (std::isfinite(v)) s += '.';
    } else {
      s = format_fixed(v, kPrecision);
    }
    return s.size() < width_ ? std::string(width_ - s.size(), ' ') + s : s;
  }

 private:
  bool int_mode_ = true;
  bool sci_mode_ = false;
  size_t width_ = 1;
};

// The elements a summarised print shows (PyTorch's get_summarized_data), for the formatter.
void collect_shown(const float* data, const Shape& shape, size_t d, bool summarize,
                   std::vector<float>& out) {
  const int64_t n = shape[d];
  int64_t inner = 1;
  for (size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
  auto visit = [&](int64_t i) {
    if (d + 1 == shape.size())
      out.push_back(data[i]);
    else
      collect_shown(data + i * inner, shape, d + 1, summarize, out);
  };
  if (summarize && n > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) visit(i);
    for (int64_t i = n - kEdgeItems; i < n; ++i) visit(i);
  } else {
    for (int64_t i = 0; i < n; ++i) visit(i);
  }
}

std::string vector_str(const float* data, int64_t n, int indent, bool summarize,
                       const Formatter& f) {
  const int64_t element_length = static_cast<int64_t>(f.width()) + 2;
  const int64_t per_line = std::max<int64_t>(1, (kLineWidth - indent) / element_length);
  std::vector<std::string> items;
  if (summarize && n > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) items.push_back(f.format(data[i]));
    items.push_back(" ...");
    for (int64_t i = n - kEdgeItems; i < n; ++i) items.push_back(f.format(data[i]));
  } else {
    for (int64_t i = 0; i < n; ++i) items.push_back(f.format(data[i]));
  }
  std::string s = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i)
      s += (static_cast<int64_t>(i) % per_line == 0) ? ",\n" + std::string(indent + 1, ' ') : ", ";
    s += items[i];
  }
  return s + "]";
}

std::string tensor_str(const float* data, const Shape& shape, size_t d, int indent, bool summarize,
                       const Formatter& f) {
  const int64_t n = shape[d];
  if (d + 1 == shape.size()) return vector_str(data, n, indent, summarize, f);
  int64_t inner = 1;
  for (size_t i = d + 1; i < shape.size(); ++i) inner *= shape[i];
  std::vector<std::string> parts;
  auto visit = [&](int64_t i) {
    parts.push_back(tensor_str(data + i * inner, shape, d + 1, indent + 1, summarize, f));
  };
  if (summarize && n > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) visit(i);
    parts.push_back("...");
    for (int64_t i = n - kEdgeItems; i < n; ++i) visit(i);
  } else {
    for (int64_t i = 0; i < n; ++i) visit(i);
  }
  const size_t remaining_dims = shape.size() - d;
  const std::string sep =
      "," + std::string(remaining_dims - 1, '\n') + std::string(indent + 1, ' ');
  std::string s = "[";
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? sep : "") + parts[i];
  return s + "]";
}

}  // namespace

std::string repr(const float* data, const Shape& shape) {
  const std::string prefix = "tensor(";
  const int indent = static_cast<int>(prefix.size());
  const int64_t n = numel(shape);
  if (n == 0) {
    if (shape.size() == 1) return prefix + "[])";
    std::string size = "(";
    for (size_t i = 0; i < shape.size(); ++i) size += (i ? ", " : "") + std::to_string(shape[i]);
    if (shape.size() == 1) size += ",";
    return prefix + "[], size=" + size + "))";
  }
  if (shape.empty()) return prefix + Formatter({data[0]}).format(data[0]) + ")";
  const bool summarize = n > kThreshold;
  std::vector<float> shown;
  collect_shown(data, shape, 0, summarize, shown);
  const Formatter f(shown);
  return prefix + tensor_str(data, shape, 0, indent, summarize, f) + ")";
}

std::string repr(const Tensor& t) {
  return repr(t.data(), t.shape());
}
std::string repr(const TensorView& t) {
  return repr(t.data(), t.shape());
}
std::string size_repr(const Shape& shape) {
  return "torch.Size(" + to_string(shape) + ")";
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << repr(t);
}
std::ostream& operator<<(std::ostream& os, const TensorView& t) {
  return os << repr(t);
}

}  // namespace convlab
