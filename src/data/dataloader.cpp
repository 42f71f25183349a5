#include "convlab/data/dataloader.h"

#include <numeric>
#include <tuple>

#include "convlab/error.h"
#include "convlab/ops/parallel.h"

namespace convlab::data {

DataLoader::DataLoader(const Dataset& dataset, int64_t batch_size, bool shuffle, Generator* gen,
                       const Transform* transform)
    : dataset_(dataset),
      batch_size_(batch_size),
      shuffle_(shuffle),
      gen_(gen),
      transform_(transform) {
  if (batch_size <= 0)
    throw ValueError("DataLoader: batch size must be positive; got " + std::to_string(batch_size));
  if (dataset.size() == 0)
    throw ValueError("DataLoader: the data set " + dataset.name + " is empty");
  if ((shuffle || (transform && transform->augments())) && !gen)
    throw ValueError("DataLoader: shuffling and augmentation need a generator");
  if (transform && !transform->mean.empty() &&
      static_cast<int64_t>(transform->mean.size()) != dataset.channels)
    throw ValueError("--normalize gives " + std::to_string(transform->mean.size()) + " means; " +
                     dataset.name + " has " + std::to_string(dataset.channels) + " channels");
  order_.resize(static_cast<size_t>(dataset.size()));
  std::iota(order_.begin(), order_.end(), 0);
  cursor_ = dataset.size();  // nothing until start_epoch
}

void DataLoader::start_epoch() {
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle_)
    for (size_t i = order_.size() - 1; i > 0; --i) std::swap(order_[i], order_[gen_->below(i + 1)]);
  cursor_ = 0;
}

bool DataLoader::next(Tensor& images, std::vector<int64_t>& targets) {
  if (cursor_ >= dataset_.size()) return false;
  const int64_t count = std::min(batch_size_, dataset_.size() - cursor_);
  const ImageDraw* draws = nullptr;
  if (transform_ && transform_->augments()) {
    // Drawn here, image by image on this thread: the same numbers at any thread count.
    draws_.resize(static_cast<size_t>(count));
    for (auto& d : draws_) {
      if (transform_->crop) {
        d.dy = static_cast<int64_t>(gen_->below(static_cast<uint64_t>(2 * transform_->pad + 1)));
        d.dx = static_cast<int64_t>(gen_->below(static_cast<uint64_t>(2 * transform_->pad + 1)));
      }
      d.flip = transform_->flip && gen_->below(2) == 1;
    }
    draws = draws_.data();
  }
  int64_t first = 0, last = count;
  if (rows_) {
    std::tie(first, last) = rows_(count);
    if (first < 0 || last > count || first > last)
      throw Error("DataLoader: rows " + std::to_string(first) + ".." + std::to_string(last) +
                  " of a batch of " + std::to_string(count));
  }
  gather_batch(dataset_, order_.data() + cursor_, count, images, targets, transform_, draws, first,
               last);
  cursor_ += count;
  return true;
}

bool DataLoader::skip() {
  if (cursor_ >= dataset_.size()) return false;
  if (transform_ && transform_->augments())
    throw Error("DataLoader::skip: an augmenting loader must draw every batch");
  cursor_ += std::min(batch_size_, dataset_.size() - cursor_);
  return true;
}

void gather_batch(const Dataset& ds, const int64_t* indices, int64_t count, Tensor& out,
                  std::vector<int64_t>& targets, const Transform* transform, const ImageDraw* draws,
                  int64_t first, int64_t last) {
  out.resize_({count, ds.channels, ds.height, ds.width});
  targets.resize(static_cast<size_t>(count));
  if (last < 0) last = count;
  for (int64_t b = 0; b < count; ++b)
    targets[static_cast<size_t>(b)] = ds.labels[static_cast<size_t>(indices[b])];
  const int64_t bytes = ds.image_bytes();
  // One task per image, as the kernels split a batch: each image is converted by the thread
  // that will run its convolutions, so it is already in that core's cache.
  const int64_t C = ds.channels, H = ds.height, W = ds.width;
  const bool normalize = transform && !transform->mean.empty();
  parallel_for(last - first, [&](int64_t task) {
    const int64_t b = first + task;
    const uint8_t* src = ds.image(indices[b]);
    float* dst = out.data() + b * bytes;
    if (!draws) {
      for (int64_t i = 0; i < bytes; ++i)
        dst[i] = static_cast<float>(src[i]) / 255.0f;  // ToTensor: div(255)
    } else {
      // RandomCrop(H, padding=pad) on the zero-padded image, then the flip: output pixel (y, x)
      // reads padded pixel (y + dy, x' + dx), x' mirrored when flipping; padding reads 0.
      const ImageDraw d = draws[b];
      const int64_t pad = transform->crop ? transform->pad : 0;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) {
            const int64_t sy = y + d.dy - pad, sx = (d.flip ? W - 1 - x : x) + d.dx - pad;
            const bool inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
            dst[(c * H + y) * W + x] =
                inside ? static_cast<float>(src[(c * H + sy) * W + sx]) / 255.0f : 0.0f;
          }
    }
    if (normalize)  // Normalize: sub_(mean).div_(std), in float
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < H * W; ++i)
          dst[c * H * W + i] = (dst[c * H * W + i] - transform->mean[static_cast<size_t>(c)]) /
                               transform->std[static_cast<size_t>(c)];
  });
}

}  // namespace convlab::data
