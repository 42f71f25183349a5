#include <cstring>
#include <filesystem>
#include <sstream>

#include "convlab/data/dataset.h"
#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/limits.h"

namespace convlab::data {

namespace {

constexpr int64_t kSide = 32, kChannels = 3, kImageBytes = kChannels * kSide * kSide,
                  kRecord = 1 + kImageBytes;

const std::vector<std::string> kDefaultClasses = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};

std::vector<std::string> read_class_names(const std::string& dir) {
  const std::string path = dir + "/batches.meta.txt";
  if (path_kind(path) == PathKind::missing) return kDefaultClasses;
  std::istringstream in(read_text_file(path, 64 << 10, "class-name file"));
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) names.push_back(excerpt(line, 40));
  if (names.size() != 10)
    throw IoError(excerpt(path) + ": holds " + std::to_string(names.size()) +
                  " class names; expected 10");
  return names;
}

}  // namespace

void append_cifar10_records(std::span<const uint8_t> bytes, const std::string& path, Dataset& ds) {
  const int64_t size = static_cast<int64_t>(bytes.size());
  if (size == 0 || size % kRecord != 0)
    throw IoError(path + ": size " + std::to_string(size) + " bytes is not a whole number of " +
                  std::to_string(kRecord) + "-byte CIFAR-10 records");
  const int64_t records = size / kRecord;
  for (int64_t r = 0; r < records; ++r)
    if (bytes[static_cast<size_t>(r * kRecord)] > 9)
      throw IoError(path + ": record " + std::to_string(r) + " has label " +
                    std::to_string(bytes[static_cast<size_t>(r * kRecord)]) +
                    "; CIFAR-10 labels are 0-9");
  // Grown once per file, then filled by plain copies: no per-record reallocation.
  const size_t labels_at = ds.labels.size(), images_at = ds.images.size();
  ds.labels.resize(labels_at + static_cast<size_t>(records));
  ds.images.resize(images_at + static_cast<size_t>(records * kImageBytes));
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* rec = bytes.data() + r * kRecord;
    ds.labels[labels_at + static_cast<size_t>(r)] = rec[0];
    std::memcpy(ds.images.data() + images_at + static_cast<size_t>(r * kImageBytes), rec + 1,
                kImageBytes);
  }
}

Dataset load_cifar10(const std::string& dir, bool train) {
  Dataset ds;
  ds.name = std::string("CIFAR-10 ") + (train ? "train" : "test");
  ds.channels = kChannels;
  ds.height = ds.width = kSide;
  ds.classes = read_class_names(dir);
  std::vector<std::string> files;
  if (train) {
    for (int i = 1; i <= 5; ++i) {
      const std::string f = dir + "/data_batch_" + std::to_string(i) + ".bin";
      if (path_kind(f) != PathKind::missing) files.push_back(f);
    }
    if (files.empty())
      throw IoError(dir + ": no CIFAR-10 training files (data_batch_1.bin ... data_batch_5.bin)");
  } else {
    files.push_back(dir + "/test_batch.bin");
  }
  // The images' storage sized once from the files' sizes (a hint: the reads check the real ones).
  uint64_t bytes = 0;
  for (const auto& f : files) {
    std::error_code ec;
    const uint64_t n = std::filesystem::file_size(f, ec);
    if (!ec) bytes += n;
  }
  if (bytes / kRecord * kImageBytes <= memory_limit_bytes())
    ds.images.reserve(static_cast<size_t>(bytes / kRecord * kImageBytes));
  AlignedVector<uint8_t> buffer;  // one file at a time, reused
  for (const auto& f : files) {
    read_file_into(f, memory_limit_bytes(), "CIFAR-10 file", buffer);
    append_cifar10_records(buffer, excerpt(f), ds);
  }
  return ds;
}

}  // namespace convlab::data
