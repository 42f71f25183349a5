#include "convlab/data/dataloader.h"

#include <numeric>

#include "convlab/error.h"
#include "convlab/ops/parallel.h"

namespace convlab::data {

DataLoader::DataLoader(const Dataset& dataset, int64_t batch_size, bool shuffle, Generator* gen)
    : dataset_(dataset), batch_size_(batch_size), shuffle_(shuffle), gen_(gen) {
  if (batch_size <= 0)
    throw ValueError("DataLoader: batch size must be positive; got " + std::to_string(batch_size));
  if (dataset.size() == 0)
    throw ValueError("DataLoader: the data set " + dataset.name + " is empty");
  if (shuffle && !gen) throw ValueError("DataLoader: shuffling needs a generator");
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
  gather_batch(dataset_, order_.data() + cursor_, count, images, targets);
  cursor_ += count;
  return true;
}

void gather_batch(const Dataset& ds, const int64_t* indices, int64_t count, Tensor& out,
                  std::vector<int64_t>& targets) {
  out.resize_({count, ds.channels, ds.height, ds.width});
  targets.resize(static_cast<size_t>(count));
  const int64_t bytes = ds.image_bytes();
  // One task per image, as the kernels split a batch: each image is converted by the thread
  // that will run its convolutions, so it is already in that core's cache.
  parallel_for(count, [&](int64_t b) {
    const uint8_t* src = ds.image(indices[b]);
    float* dst = out.data() + b * bytes;
    for (int64_t i = 0; i < bytes; ++i)
      dst[i] = static_cast<float>(src[i]) / 255.0f;  // ToTensor: div(255)
    targets[static_cast<size_t>(b)] = ds.labels[static_cast<size_t>(indices[b])];
  });
}

}  // namespace convlab::data
