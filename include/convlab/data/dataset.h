// Image classification data sets kept as uint8 in memory (N, C, H, W) with labels; converted to
// float per batch by the DataLoader. Every read is checked: sizes, magic numbers, label range.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "convlab/tensor/aligned.h"
#include "convlab/tensor/shape.h"

namespace convlab::data {

struct Dataset {
  std::string name;  // "CIFAR-10 train", ...
  int64_t channels = 0, height = 0, width = 0;
  // size() * channels * height * width bytes, NCHW; on huge pages (150 MB for CIFAR-10's 50,000
  // training images: filled without 37,000 page faults).
  AlignedVector<uint8_t> images;
  std::vector<uint8_t> labels;  // size() values in [0, classes.size())
  std::vector<std::string> classes;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t image_bytes() const { return channels * height * width; }
  Shape image_shape() const { return {channels, height, width}; }
  const uint8_t* image(int64_t i) const { return images.data() + i * image_bytes(); }
};

// CIFAR-10 binary version: records of 1 label byte + 3072 bytes (R, G, B planes of 32x32).
// train: data_batch_1.bin .. data_batch_5.bin (those present, at least one); test: test_batch.bin.
// The record count comes from the file size; a size that is not a whole number of records, or a
// label outside 0-9, is an IoError naming the file and the record.
Dataset load_cifar10(const std::string& dir, bool train);

// MNIST idx: train-images-idx3-ubyte / train-labels-idx1-ubyte (or t10k-*). Checks the magic
// numbers (2051, 2049), counts, sizes against the header, and labels 0-9.
Dataset load_mnist(const std::string& dir, bool train);

// The readers' checks on bytes already in memory (the fuzz targets' entries); paths only name the
// files in messages. append_cifar10_records adds one batch file's records to `ds`.
void append_cifar10_records(std::span<const uint8_t> bytes, const std::string& path, Dataset& ds);
Dataset parse_mnist(const std::vector<uint8_t>& images, const std::vector<uint8_t>& labels,
                    const std::string& image_path, const std::string& label_path, bool train);

// Either of the above, chosen by the files present in `dir`.
Dataset load_dataset(const std::string& dir, bool train);

}  // namespace convlab::data
