// safetensors (https://github.com/huggingface/safetensors), the format in which PyTorch users
// exchange state_dicts without pickle:
//   u64 little-endian N | N bytes of JSON header | data
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// into the data, which the tensors cover exactly: no holes, no overlaps), plus an optional
// "__metadata__" of strings. Reading checks all of that against the file's real size before
// anything is converted, so a crafted file can neither crash the reader nor make it allocate more
// than the file itself holds.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "convlab/tensor/tensor.h"

namespace convlab::safetensors {

// The header is at most 100 MB, as the reference implementation requires.
inline constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct Entry {
  std::string name;
  std::string dtype;            // "F32", "F16", "BF16", "F64", "I64", ...
  std::vector<int64_t> shape;   // any rank; [] is a scalar
  uint64_t begin = 0, end = 0;  // byte range in the data section
};

class File {
 public:
  // Checks the whole layout; throws IoError "<path>: ..." naming what is wrong and where.
  File(std::vector<uint8_t> bytes, std::string path);

  const std::string& path() const { return path_; }
  const std::vector<Entry>& entries() const { return entries_; }  // by name
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const Entry* find(const std::string& name) const;

  // A floating-point entry (F32, F16, BF16, F64) as float32; an integer or boolean dtype is an
  // IoError naming the entry. The shape must have at most 4 dimensions (a Tensor's).
  Tensor floats(const Entry& e) const;
  // An integer entry (I8..I64, U8..U64) with one element, as int64; anything else is an IoError.
  int64_t integer_scalar(const Entry& e) const;

 private:
  std::vector<uint8_t> bytes_;
  std::string path_;
  uint64_t data_start_ = 0;
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

File load(const std::string& path);

// What save writes: float tensors as F32, integer ones (a BatchNorm's num_batches_tracked) as I64.
struct Named {
  std::string name;
  const Tensor* value;
  bool integer = false;
};

// The file's bytes: header padded with spaces to a multiple of 8 so that the data is aligned,
// tensors in the order given, contiguous.
std::string serialize(const std::vector<Named>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Written atomically.
void save(const std::string& path, const std::vector<Named>& tensors,
          const std::map<std::string, std::string>& metadata = {});

}  // namespace convlab::safetensors
