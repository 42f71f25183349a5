// Tensor: float32, up to 4-D, contiguous row-major storage (NCHW images, OIHW weights).
// A Tensor knows nothing of gradients; ops and modules work on its raw data.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <string>
#include <vector>

#include "convlab/tensor/aligned.h"
#include "convlab/tensor/shape.h"

namespace convlab {

class Tensor;

// A writable window onto a contiguous block of a tensor: what `t[i]` or `t[i][j]` selects, as in
// PyTorch's `conv.weight[0][1] = Gx`. It carries a label ("conv1.weight[0][1]") so that a wrong
// assignment can say where it went wrong. A view is valid while its tensor is alive and unresized.
class TensorView {
 public:
  TensorView(float* data, Shape shape, std::string label);

  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return convlab::numel(shape_); }
  float* data() const { return data_; }
  const std::string& label() const { return label_; }

  TensorView operator[](int64_t index) const;
  // Copies `values` into the view; throws ShapeError naming the label if the shapes differ.
  TensorView& operator=(const Tensor& values);
  TensorView& operator=(const TensorView& values);
  TensorView& fill_(float value);
  Tensor clone() const;

 private:
  float* data_;
  Shape shape_;
  std::string label_;
};

class Tensor {
 public:
  Tensor() = default;  // a 1-D tensor with no elements
  explicit Tensor(Shape shape, float value = 0.0f);
  Tensor(Shape shape, std::vector<float> values);

  static Tensor zeros(Shape shape) { return Tensor(std::move(shape), 0.0f); }
  static Tensor ones(Shape shape) { return Tensor(std::move(shape), 1.0f); }
  static Tensor full(Shape shape, float value) { return Tensor(std::move(shape), value); }

  const Shape& shape() const { return shape_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end, as in PyTorch
  int64_t numel() const { return static_cast<int64_t>(data_.size()); }
  float* data() { return data_.data(); }
  const float* data() const { return data_.data(); }

  // Element access with one index per dimension, bounds-checked (throws ShapeError).
  template <typename... I>
  float& operator()(I... idx) {
    const int64_t list[] = {static_cast<int64_t>(idx)...};
    return data_[offset(list, sizeof...(I))];
  }
  template <typename... I>
  float operator()(I... idx) const {
    const int64_t list[] = {static_cast<int64_t>(idx)...};
    return data_[offset(list, sizeof...(I))];
  }
  float item() const;  // the single element of a one-element tensor

  // Sub-tensor along the first dimension, writable in place: t[0][1] = kernel.
  TensorView operator[](int64_t index);
  TensorView view();
  void set_label(std::string label) { label_ = std::move(label); }
  const std::string& label() const { return label_; }

  // Copies of parts and reductions. slice(1, 0, 1) is PyTorch's x[:, 0:1].
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;
  Tensor sum(int64_t dim, bool keepdim = false) const;
  Tensor reshape(Shape shape) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor& fill_(float value);
  // Gives the tensor a new shape, keeping its storage when it is large enough: the way hot loops
  // reuse buffers. The contents are unspecified afterwards.
  void resize_(const Shape& shape);

  Tensor operator+(const Tensor& other) const;  // same shapes
  Tensor operator-(const Tensor& other) const;  // same shapes
  Tensor operator+(float value) const;
  Tensor operator*(float value) const;
  friend Tensor operator*(float value, const Tensor& t) { return t * value; }
  Tensor operator-() const { return *this * -1.0f; }

 private:
  int64_t offset(const int64_t* idx, size_t n) const;

  Shape shape_{0};
  AlignedVector<float> data_;
  std::string label_;
};

// Tensors from literal values, as torch.tensor: tensor({1, 2}) is 1-D, tensor({{1, 0}, {0, 1}})
// 2-D. (Tensor({2, 3}) is always a shape, never values.)
Tensor tensor(std::initializer_list<float> values);
Tensor tensor(std::initializer_list<std::initializer_list<float>> rows);

// PyTorch's allclose: |a - b| <= atol + rtol * |b| everywhere, shapes equal, NaN never close.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8);
// Largest |a - b| over all elements; throws ShapeError if the shapes differ.
double max_abs_diff(const Tensor& a, const Tensor& b);

// PyTorch's repr of a float tensor: "tensor([[-4.,  0.,  4.], ...])" with its width, precision,
// scientific-notation and summarisation rules (threshold 1000, edge items 3, line width 80).
std::string repr(const float* data, const Shape& shape);
std::string repr(const Tensor& t);
std::string repr(const TensorView& t);
// "torch.Size([1, 3, 3, 3])"
std::string size_repr(const Shape& shape);
std::ostream& operator<<(std::ostream& os, const Tensor& t);
std::ostream& operator<<(std::ostream& os, const TensorView& t);

}  // namespace convlab
