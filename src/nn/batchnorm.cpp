#include "convlab/nn/batchnorm.h"

#include <cmath>

#include "convlab/error.h"
#include "convlab/nn/registry.h"
#include "convlab/ops/kernels.h"
#include "layer_checks.h"

namespace convlab::nn {

BatchNorm::BatchNorm(int dims, int64_t num_features, double eps, std::optional<double> momentum,
                     bool affine, bool track_running_stats)
    : dims_(dims),
      features_(num_features),
      eps_(eps),
      momentum_(momentum),
      affine_(affine),
      track_(track_running_stats) {
  if (features_ <= 0) throw ValueError(repr() + ": num_features must be positive");
  if (!(eps_ > 0) || !std::isfinite(eps_)) throw ValueError(repr() + ": eps must be positive");
  if (momentum_ && !(*momentum_ >= 0 && *momentum_ <= 1))
    throw ValueError(repr() + ": momentum must be in [0, 1] or None");
  if (affine_) {
    weight_ = {"weight", Tensor({features_}, 1.0f), Tensor({features_})};
    bias_ = {"bias", Tensor({features_}, 0.0f), Tensor({features_})};
  }
  if (track_) {
    running_mean_ = {"running_mean", Tensor({features_}, 0.0f)};
    running_var_ = {"running_var", Tensor({features_}, 1.0f)};
    num_batches_tracked_ = {"num_batches_tracked", Tensor(Shape{}, 0.0f), /*integer=*/true};
  }
}

std::string BatchNorm::repr() const {
  return type_name() + "(" + std::to_string(features_) + ", eps=" + python_repr(eps_) +
         ", momentum=" + (momentum_ ? python_repr(*momentum_) : std::string("None")) +
         ", affine=" + (affine_ ? "True" : "False") +
         ", track_running_stats=" + (track_ ? "True" : "False") + ")";
}

void BatchNorm::split(const Shape& s, int64_t& N, int64_t& L) const {
  N = s[0];
  L = 1;
  for (size_t d = 2; d < s.size(); ++d) L *= s[d];
}

Shape BatchNorm::output_shape(const Shape& input) const {
  const bool rank_ok = dims_ == 2 ? input.size() == 4 : (input.size() == 2 || input.size() == 3);
  if (!rank_ok || input[1] != features_)
    throw ShapeError(name() + ": expected input of shape " +
                     (dims_ == 2 ? "[N, " + std::to_string(features_) + ", H, W]"
                                 : "[N, " + std::to_string(features_) + "] or [N, " +
                                       std::to_string(features_) + ", L]") +
                     "; got shape " + to_string(input));
  return input;
}

void BatchNorm::forward(const Tensor& input, Tensor& output) {
  run_forward(input, output, /*relu=*/false);
}

void BatchNorm::forward_relu(const Tensor& input, Tensor& output) {
  run_forward(input, output, /*relu=*/true);
}

void BatchNorm::backward(const Tensor& input, const Tensor&, const Tensor& grad_output,
                         Tensor* grad_input) {
  run_backward(input, /*relu=*/false, grad_output, grad_input);
}

void BatchNorm::backward_relu(const Tensor& input, const Tensor& output, const Tensor& grad_output,
                              Tensor* grad_input) {
  expect_same_shape(*this, "output", output.shape(), input.shape());
  run_backward(input, /*relu=*/true, grad_output, grad_input);
}

void BatchNorm::inference_affine(std::vector<double>& mean, std::vector<double>& scale,
                                 std::vector<double>& shift) const {
  if (!uses_running_statistics())
    throw Error(name() + ": inference_affine needs evaluation mode and running statistics");
  const auto C = static_cast<size_t>(features_);
  mean.resize(C);
  scale.resize(C);
  shift.resize(C);
  const float* rm = running_mean_.value.data();
  const float* rv = running_var_.value.data();
  for (size_t c = 0; c < C; ++c) {
    // As run_forward and kernels::batch_norm_normalize compute them, operation for operation.
    const double invstd = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps_);
    mean[c] = rm[c];
    scale[c] = invstd * (affine_ ? static_cast<double>(weight_.value.data()[c]) : 1.0);
    shift[c] = affine_ ? static_cast<double>(bias_.value.data()[c]) : 0.0;
  }
}

void BatchNorm::run_forward(const Tensor& input, Tensor& output, bool relu) {
  output.resize_(output_shape(input.shape()));
  int64_t N, L;
  split(input.shape(), N, L);
  const int64_t C = features_;
  mean_.assign(static_cast<size_t>(C), 0.0);
  invstd_.assign(static_cast<size_t>(C), 0.0);
  used_batch_stats_ = training_ || !track_;
  if (used_batch_stats_) {
    if (training_ && N * L <= 1)
      throw ValueError(name() +
                       ": expected more than 1 value per channel when training; got input "
                       "shape " +
                       to_string(input.shape()));
    std::vector<double>& var = batch_var_;
    var.assign(static_cast<size_t>(C), 0.0);
    kernels::batch_norm_forward_batch(N, C, L, input.data(), eps_,
                                      affine_ ? weight_.value.data() : nullptr,
                                      affine_ ? bias_.value.data() : nullptr, relu, mean_.data(),
                                      var.data(), invstd_.data(), output.data());
    batch_count_ = static_cast<double>(N * L);
    if (training_) update_running_statistics(mean_.data(), var.data(), batch_count_);
    return;
  }
  batch_var_.clear();
  batch_count_ = 0;
  const float* rm = running_mean_.value.data();
  const float* rv = running_var_.value.data();
  for (int64_t c = 0; c < C; ++c) {
    mean_[c] = rm[c];
    invstd_[c] = 1.0 / std::sqrt(static_cast<double>(rv[c]) + eps_);
  }
  kernels::batch_norm_normalize(N, C, L, input.data(), mean_.data(), invstd_.data(),
                                affine_ ? weight_.value.data() : nullptr,
                                affine_ ? bias_.value.data() : nullptr, relu, output.data());
}

void BatchNorm::update_running_statistics(const double* mean, const double* var, double n) {
  if (!track_) return;
  // PyTorch's order: count the batch, then blend in the statistics (the unbiased variance).
  float& tracked = *num_batches_tracked_.value.data();
  tracked += 1.0f;
  const double m = momentum_ ? *momentum_ : 1.0 / static_cast<double>(tracked);
  float* rm = running_mean_.value.data();
  float* rv = running_var_.value.data();
  for (int64_t c = 0; c < features_; ++c) {
    rm[c] = static_cast<float>(m * mean[c] + (1 - m) * static_cast<double>(rm[c]));
    rv[c] = static_cast<float>(m * var[c] * n / (n - 1) + (1 - m) * static_cast<double>(rv[c]));
  }
}

void BatchNorm::run_backward(const Tensor& input, bool relu, const Tensor& grad_output,
                             Tensor* grad_input) {
  expect_same_shape(*this, "gradient of the output", grad_output.shape(), input.shape());
  if (mean_.size() != static_cast<size_t>(features_))
    throw Error(name() + ": backward before forward");
  int64_t N, L;
  split(input.shape(), N, L);
  if (grad_input) grad_input->resize_(input.shape());
  kernels::batch_norm_backward(
      N, features_, L, input.data(), mean_.data(), invstd_.data(),
      affine_ ? weight_.value.data() : nullptr, affine_ ? bias_.value.data() : nullptr,
      grad_output.data(), relu, used_batch_stats_, grad_input ? grad_input->data() : nullptr,
      affine_ ? weight_.grad.data() : nullptr, affine_ ? bias_.grad.data() : nullptr);
}

std::vector<Parameter*> BatchNorm::parameters() {
  if (affine_) return {&weight_, &bias_};
  return {};
}

std::vector<Buffer*> BatchNorm::buffers() {
  if (track_) return {&running_mean_, &running_var_, &num_batches_tracked_};
  return {};
}

void register_batchnorm(LayerRegistry& r) {
  for (int dims : {1, 2})
    r.add({dims == 1 ? "BatchNorm1d" : "BatchNorm2d",
           {"num_features", "eps", "momentum", "affine", "track_running_stats", "device", "dtype"},
           [dims](const LayerArgs& a, Generator&) -> ModulePtr {
             if (a.has("device") || a.has("dtype")) a.fail(": device and dtype are not supported");
             return std::make_shared<BatchNorm>(
                 dims, a.integer("num_features"), a.real("eps", 1e-5),
                 a.real_or_none("momentum", 0.1), a.boolean("affine", true),
                 a.boolean("track_running_stats", true));
           }});
}

}  // namespace convlab::nn
