// DataLoader: batches of a Dataset as float tensors scaled to [0, 1] (x / 255, as torchvision's
// ToTensor), reshuffled each epoch from the seeded generator if asked; the last partial batch is
// kept (drop_last=False).
#pragma once

#include <functional>
#include <utility>
#include <vector>

#include "convlab/data/dataset.h"
#include "convlab/data/transform.h"
#include "convlab/tensor/random.h"
#include "convlab/tensor/tensor.h"

namespace convlab::data {

class DataLoader {
 public:
  // gen is used when shuffling or augmenting; it and `transform` must outlive the loader.
  DataLoader(const Dataset& dataset, int64_t batch_size, bool shuffle, Generator* gen = nullptr,
             const Transform* transform = nullptr);

  int64_t num_batches() const { return (dataset_.size() + batch_size_ - 1) / batch_size_; }
  const Dataset& dataset() const { return dataset_; }

  // Starts an epoch: a new permutation (Fisher-Yates on the generator) when shuffling.
  void start_epoch();
  // Fills the next batch (images resized to (B, C, H, W) in place, targets to B); false at the end.
  bool next(Tensor& images, std::vector<int64_t>& targets);
  // From now on next() converts only the batch rows [first, last) that rows(batch size) names
  // (a process of a data-parallel job reads only its own chunks); the other rows' pixels are left
  // as they were. Targets and the augmentation draws are made for every row, as before.
  void only_rows(std::function<std::pair<int64_t, int64_t>(int64_t batch_rows)> rows) {
    rows_ = std::move(rows);
  }
  // Passes over the next batch without reading it (evaluation shared among processes); false at
  // the end. Only for loaders that draw nothing (no augmentation).
  bool skip();
  // The dataset indices of the current epoch's order.
  const std::vector<int64_t>& order() const { return order_; }

 private:
  const Dataset& dataset_;
  int64_t batch_size_;
  bool shuffle_;
  Generator* gen_;
  const Transform* transform_;
  std::vector<ImageDraw> draws_;
  std::vector<int64_t> order_;
  int64_t cursor_ = 0;
  std::function<std::pair<int64_t, int64_t>(int64_t)> rows_;
};

// Copies images `indices` of the dataset into `out` as floats x / 255 (B, C, H, W); with a
// transform, each image cropped and flipped as draws[b] says (draws may be null: none), then
// normalised. With first/last, only rows [first, last) are converted (all targets are set).
void gather_batch(const Dataset& dataset, const int64_t* indices, int64_t count, Tensor& out,
                  std::vector<int64_t>& targets, const Transform* transform = nullptr,
                  const ImageDraw* draws = nullptr, int64_t first = 0, int64_t last = -1);

}  // namespace convlab::data
