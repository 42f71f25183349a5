// Fuzz target: the MNIST idx reader (data::parse_mnist), which takes two files.
//
// Input layout: a 4-byte little-endian number s, then the rest; the rest is split at
// s % (rest + 1): the image file (idx3) first, the label file (idx1) after. The seeds in
// corpus/fuzz_mnist store the real split, so mutations of the headers keep the two files apart.
#include <cstring>
#include <vector>

#include "convlab/data/dataset.h"
#include "convlab/error.h"
#include "fuzz_entry.h"

namespace convlab_fuzz {

int mnist(const uint8_t* data, size_t size) {
  if (size < 4) return -1;
  uint32_t split;
  std::memcpy(&split, data, 4);  // little-endian on every machine this runs on
  data += 4;
  size -= 4;
  const size_t at = split % (size + 1);
  const std::vector<uint8_t> images(data, data + at), labels(data + at, data + size);
  try {
    convlab::data::parse_mnist(images, labels, "img", "lab", /*train=*/true);
  } catch (const convlab::Error&) {
  }
  return 0;
}

}  // namespace convlab_fuzz

CONVLAB_FUZZ_TARGET(mnist)
