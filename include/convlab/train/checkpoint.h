// Checkpoints: one file holding a JSON header (model text, recipe, epoch, generator state) and
// named float tensors (parameters by state_dict name, optimizer state), closed by a checksum.
//   "CONVLABK" | u32 version | u64 header bytes | header | u32 tensor count |
//   per tensor: u32 name bytes | name | u32 rank | i64 dims[rank] | f32 data[numel] | u64 FNV-1a of
//   all before
// Written atomically; reading checks magic, version, every size against the file, and the checksum.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convlab/tensor/tensor.h"

namespace convlab::train {

struct Checkpoint {
  nlohmann::json header;
  std::map<std::string, Tensor> tensors;
};

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
// Throws IoError "<path>: ..." for a missing, truncated or corrupt file.
Checkpoint load_checkpoint(const std::string& path);
// The same from the file's bytes; `path` only names it in messages (the fuzz target's entry).
Checkpoint parse_checkpoint(const std::vector<uint8_t>& bytes, const std::string& path);

}  // namespace convlab::train
