#include "convlab/tensor/tensor.h"

#include <algorithm>
#include <cmath>

#include "convlab/error.h"

namespace convlab {

namespace {

std::string index_label(const std::string& base, int64_t index) {
  return (base.empty() ? std::string("tensor") : base) + "[" + std::to_string(index) + "]";
}

// Selects block `index` along the first dimension of a contiguous (data, shape).
TensorView select_first(float* data, const Shape& shape, int64_t index, const std::string& label) {
  if (shape.empty()) throw ShapeError(label + ": cannot index a 0-d tensor");
  if (index < 0) index += shape[0];
  if (index < 0 || index >= shape[0])
    throw ShapeError(label + ": index " + std::to_string(index) +
                     " is out of range for dimension 0 of size " + std::to_string(shape[0]));
  Shape rest(shape.begin() + 1, shape.end());
  return TensorView(data + index * numel(rest), rest, index_label(label, index));
}

void copy_checked(const TensorView& dst, const Shape& src_shape, const float* src) {
  if (src_shape != dst.shape())
    throw ShapeError(dst.label() + ": cannot assign a tensor of shape " + to_string(src_shape) +
                     "; expected shape " + to_string(dst.shape()));
  std::copy(src, src + numel(src_shape), dst.data());
}

}  // namespace

// ---- TensorView ----

TensorView::TensorView(float* data, Shape shape, std::string label)
    : data_(data), shape_(std::move(shape)), label_(std::move(label)) {}

TensorView TensorView::operator[](int64_t index) const {
  return select_first(data_, shape_, index, label_);
}

TensorView& TensorView::operator=(const Tensor& values) {
  copy_checked(*this, values.shape(), values.data());
  return *this;
}

TensorView& TensorView::operator=(const TensorView& values) {
  copy_checked(*this, values.shape(), values.data());
  return *this;
}

TensorView& TensorView::fill_(float value) {
  std::fill(data_, data_ + numel(), value);
  return *this;
}

Tensor TensorView::clone() const {
  return Tensor(shape_, std::vector<float>(data_, data_ + numel()));
}

// ---- Tensor ----

Tensor::Tensor(Shape shape, float value) : shape_(std::move(shape)) {
  check_shape(shape_, "Tensor");
  data_.assign(static_cast<size_t>(convlab::numel(shape_)), value);
}

Tensor::Tensor(Shape shape, std::vector<float> values) : shape_(std::move(shape)) {
  check_shape(shape_, "Tensor");
  if (static_cast<int64_t>(values.size()) != convlab::numel(shape_))
    throw ShapeError("Tensor: " + std::to_string(values.size()) + " values do not fill shape " +
                     to_string(shape_) + " (" + std::to_string(convlab::numel(shape_)) +
                     " elements)");
  data_.assign(values.begin(), values.end());
}

Tensor tensor(std::initializer_list<float> values) {
  return Tensor({static_cast<int64_t>(values.size())}, std::vector<float>(values));
}

Tensor tensor(std::initializer_list<std::initializer_list<float>> rows) {
  const int64_t cols = rows.size() ? static_cast<int64_t>(rows.begin()->size()) : 0;
  std::vector<float> values;
  for (const auto& r : rows) {
    if (static_cast<int64_t>(r.size()) != cols)
      throw ShapeError("tensor: rows have different lengths (" + std::to_string(cols) + " and " +
                       std::to_string(r.size()) + ")");
    values.insert(values.end(), r.begin(), r.end());
  }
  return Tensor({static_cast<int64_t>(rows.size()), cols}, std::move(values));
}

int64_t Tensor::size(int64_t d) const {
  const int64_t n = dim();
  if (d < -n || d >= n)
    throw ShapeError("Tensor.size: dimension " + std::to_string(d) + " is out of range for shape " +
                     to_string(shape_));
  return shape_[static_cast<size_t>(d < 0 ? d + n : d)];
}

int64_t Tensor::offset(const int64_t* idx, size_t n) const {
  if (n != shape_.size())
    throw ShapeError("Tensor: " + std::to_string(n) + " indices given for a " +
                     std::to_string(shape_.size()) + "-d tensor of shape " + to_string(shape_));
  int64_t off = 0;
  for (size_t d = 0; d < n; ++d) {
    if (idx[d] < 0 || idx[d] >= shape_[d])
      throw ShapeError("Tensor: index " + std::to_string(idx[d]) +
                       " is out of range for dimension " + std::to_string(d) + " of shape " +
                       to_string(shape_));
    off = off * shape_[d] + idx[d];
  }
  return off;
}

float Tensor::item() const {
  if (numel() != 1)
    throw ShapeError("Tensor.item: needs exactly one element; shape is " + to_string(shape_));
  return data_[0];
}

TensorView Tensor::operator[](int64_t index) {
  return select_first(data_.data(), shape_, index, label_);
}

TensorView Tensor::view() {
  return TensorView(data_.data(), shape_, label_.empty() ? "tensor" : label_);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  const int64_t nd = dim();
  if (d < 0) d += nd;
  if (d < 0 || d >= nd)
    throw ShapeError("Tensor.slice: dimension " + std::to_string(d) +
                     " is out of range for shape " + to_string(shape_));
  const int64_t extent = shape_[static_cast<size_t>(d)];
  if (start < 0 || end > extent || start > end)
    throw ShapeError("Tensor.slice: range " + std::to_string(start) + ":" + std::to_string(end) +
                     " does not fit dimension " + std::to_string(d) + " of size " +
                     std::to_string(extent));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= shape_[static_cast<size_t>(i)];
  for (int64_t i = d + 1; i < nd; ++i) inner *= shape_[static_cast<size_t>(i)];
  Shape out_shape = shape_;
  out_shape[static_cast<size_t>(d)] = end - start;
  Tensor out(out_shape);
  float* dst = out.data();
  for (int64_t o = 0; o < outer; ++o) {
    const float* src = data_.data() + (o * extent + start) * inner;
    dst = std::copy(src, src + (end - start) * inner, dst);
  }
  return out;
}

Tensor Tensor::sum(int64_t d, bool keepdim) const {
  const int64_t nd = dim();
  if (d < 0) d += nd;
  if (d < 0 || d >= nd)
    throw ShapeError("Tensor.sum: dimension " + std::to_string(d) + " is out of range for shape " +
                     to_string(shape_));
  const int64_t extent = shape_[static_cast<size_t>(d)];
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < d; ++i) outer *= shape_[static_cast<size_t>(i)];
  for (int64_t i = d + 1; i < nd; ++i) inner *= shape_[static_cast<size_t>(i)];
  Shape out_shape = shape_;
  if (keepdim)
    out_shape[static_cast<size_t>(d)] = 1;
  else
    out_shape.erase(out_shape.begin() + d);
  Tensor out(out_shape);
  // Summed in index order, as PyTorch's CPU sum does for a channel dimension this small.
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t e = 0; e < extent; ++e) {
      const float* src = data_.data() + (o * extent + e) * inner;
      float* dst = out.data() + o * inner;
      for (int64_t i = 0; i < inner; ++i) dst[i] += src[i];
    }
  return out;
}

Tensor Tensor::reshape(Shape shape) const {
  if (convlab::numel(shape) != numel())
    throw ShapeError("Tensor.reshape: shape " + to_string(shape) + " does not hold the " +
                     std::to_string(numel()) + " elements of shape " + to_string(shape_));
  Tensor out = *this;
  out.shape_ = std::move(shape);
  check_shape(out.shape_, "Tensor.reshape");
  return out;
}

Tensor Tensor::unsqueeze(int64_t d) const {
  const int64_t nd = dim();
  if (d < 0) d += nd + 1;
  if (d < 0 || d > nd)
    throw ShapeError("Tensor.unsqueeze: dimension " + std::to_string(d) +
                     " is out of range for shape " + to_string(shape_));
  Shape s = shape_;
  s.insert(s.begin() + d, 1);
  return reshape(s);
}

void Tensor::resize_(const Shape& shape) {
  if (shape == shape_) return;
  check_shape(shape, "Tensor.resize_");
  shape_ = shape;
  data_.resize(static_cast<size_t>(convlab::numel(shape_)));
}

Tensor& Tensor::fill_(float value) {
  std::fill(data_.begin(), data_.end(), value);
  return *this;
}

namespace {
template <typename F>
Tensor zip(const Tensor& a, const Tensor& b, const char* op, F f) {
  if (a.shape() != b.shape())
    throw ShapeError(std::string("Tensor ") + op + ": shapes " + to_string(a.shape()) + " and " +
                     to_string(b.shape()) + " differ");
  Tensor out(a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) out.data()[i] = f(a.data()[i], b.data()[i]);
  return out;
}
}  // namespace

Tensor Tensor::operator+(const Tensor& o) const {
  return zip(*this, o, "+", [](float x, float y) { return x + y; });
}
Tensor Tensor::operator-(const Tensor& o) const {
  return zip(*this, o, "-", [](float x, float y) { return x - y; });
}

Tensor Tensor::operator+(float value) const {
  Tensor out = *this;
  for (float& x : out.data_) x += value;
  return out;
}

Tensor Tensor::operator*(float value) const {
  Tensor out = *this;
  for (float& x : out.data_) x *= value;
  return out;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol) {
  if (a.shape() != b.shape()) return false;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data()[i], y = b.data()[i];
    if (x == y) continue;  // covers equal infinities
    if (!(std::fabs(x - y) <= atol + rtol * std::fabs(y))) return false;
  }
  return true;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape())
    throw ShapeError("max_abs_diff: shapes " + to_string(a.shape()) + " and " +
                     to_string(b.shape()) + " differ");
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::fabs(static_cast<double>(a.data()[i]) - b.data()[i]);
    if (std::isnan(d)) return d;
    m = std::max(m, d);
  }
  return m;
}

}  // namespace convlab
