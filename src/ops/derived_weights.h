// Weights in the form a kernel computes with, kept from call to call while the weights stay the
// same: inference transforms each layer's weights once instead of once a batch. Exact: a kept form
// is used only when the weights' bytes equal, in full, those it was made from, so the bits are
// those of making it again. The check is by content, not by a version count, because python's
// numpy views write weights without convlab knowing; the weights' address only picks the entry.
//
// Used for the Winograd transforms (4 times the weights written, with arithmetic: deep4x4's
// inference at batch 64 10 % faster, 256 -> 256 on 4 x 4). Not for mere repacking (the channel
// lanes, the 1x1 kernel): comparing reads the weights twice, which cost as much as packing them
// (at batch 1, deep4x4's packing was 45 % of its inference and comparing took 40 %).
//
// The cache belongs to the calling thread: the most recently used forms, up to 64 and 256 MB (a
// form evicted is made again when next asked for).
#pragma once

#include <cstdint>

#include "convlab/ops/conv2d.h"

namespace convlab::kernels {

// What a form is made for. A kernel asking for two kinds of the same weights keeps both.
enum class DerivedKind { winograd3x3, winograd_f2x2 };

struct DerivedSlot {
  float* data;  // `count` floats, aligned to 64 bytes
  bool ready;   // holds the form of the weights' current contents
  void* entry;
};

// The slot of (kind, geometry without its batch, weights): ready when the weights are unchanged
// since its form was made; else the caller makes the form in `data` and calls derived_made.
DerivedSlot derived_slot(DerivedKind kind, const Conv2dGeometry& g, const float* weights,
                         int64_t weight_count, int64_t count);
void derived_made(const DerivedSlot& slot);

template <typename Make>
const float* derived_weights(DerivedKind kind, const Conv2dGeometry& g, const float* weights,
                             int64_t weight_count, int64_t count, Make make) {
  const DerivedSlot slot = derived_slot(kind, g, weights, weight_count, count);
  if (!slot.ready) {
    make(slot.data);
    derived_made(slot);
  }
  return slot.data;
}

}  // namespace convlab::kernels
