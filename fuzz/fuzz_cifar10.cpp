// Fuzz target: the CIFAR-10 binary reader (data::append_cifar10_records), which checks the size
// is a whole number of 3073-byte records and every label is 0-9.
#include <vector>

#include "convlab/data/dataset.h"
#include "convlab/error.h"
#include "fuzz_entry.h"

namespace convlab_fuzz {

int cifar10(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> bytes(data, data + size);
  convlab::data::Dataset ds;  // as load_cifar10 sets it up before appending a batch file
  ds.channels = 3;
  ds.height = ds.width = 32;
  try {
    convlab::data::append_cifar10_records(bytes, "fuzz", ds);
  } catch (const convlab::Error&) {
  }
  return 0;
}

}  // namespace convlab_fuzz

CONVLAB_FUZZ_TARGET(cifar10)
