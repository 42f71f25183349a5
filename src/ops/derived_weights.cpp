#include "derived_weights.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "convlab/ops/kernels.h"
#include "convlab/tensor/aligned.h"

namespace convlab::kernels {

namespace {

// Enough for every layer of the networks convlab is for; bytes: the weights' copy and their form.
constexpr size_t kMostEntries = 64;
constexpr size_t kMostBytes = size_t{256} << 20;

struct Entry {
  DerivedKind kind;
  Isa isa;  // the forms of some kinds depend on the instruction set
  int64_t shape[12];
  const float* weights;
  int64_t weight_count, count;
  AlignedVector<float> source, form;
  bool made = false;
  uint64_t used = 0;

  size_t bytes() const { return (source.capacity() + form.capacity()) * sizeof(float); }
};

struct Cache {
  std::vector<std::unique_ptr<Entry>> entries;
  uint64_t clock = 0;

  size_t total() const {
    size_t t = 0;
    for (const auto& e : entries) t += e->bytes();
    return t;
  }
  // The least recently used entry, never one of the two most recent (a chain of two layers holds
  // both of its forms at once); none with two entries or fewer.
  std::vector<std::unique_ptr<Entry>>::iterator oldest() {
    if (entries.size() <= 2) return entries.end();
    return std::min_element(entries.begin(), entries.end(),
                            [](const auto& a, const auto& b) { return a->used < b->used; });
  }
  // An entry for a new key: at a limit the oldest one's, with its buffers (a network whose forms
  // exceed the limits misses on every call, and should not also allocate and fault in a buffer
  // each time), else a new one.
  Entry* fresh_entry() {
    const auto old =
        entries.size() >= kMostEntries || total() >= kMostBytes ? oldest() : entries.end();
    if (old != entries.end()) return old->get();
    entries.push_back(std::make_unique<Entry>());
    return entries.back().get();
  }
  // Drops the least recently used entries while over either limit.
  void trim() {
    while ((entries.size() > kMostEntries || total() > kMostBytes) && oldest() != entries.end())
      entries.erase(oldest());
  }
};

Cache& cache() {
  thread_local Cache c;
  return c;
}

}  // namespace

DerivedSlot derived_slot(DerivedKind kind, const Conv2dGeometry& g, const float* weights,
                         int64_t weight_count, int64_t count) {
  const int64_t shape[12] = {g.C, g.H, g.W, g.O, g.KH, g.KW, g.SH, g.SW, g.PH, g.PW, g.OH, g.OW};
  const Isa isa = active_isa();
  Cache& c = cache();
  Entry* e = nullptr;
  for (const auto& candidate : c.entries)
    if (candidate->kind == kind && candidate->isa == isa && candidate->weights == weights &&
        candidate->weight_count == weight_count && candidate->count == count &&
        std::equal(shape, shape + 12, candidate->shape)) {
      e = candidate.get();
      break;
    }
  if (!e) {
    e = c.fresh_entry();
    e->made = false;
    e->kind = kind;
    e->isa = isa;
    std::copy(shape, shape + 12, e->shape);
    e->weights = weights;
    e->weight_count = weight_count;
    e->count = count;
  }
  e->used = ++c.clock;
  const size_t n = static_cast<size_t>(weight_count);
  if (e->made && std::memcmp(e->source.data(), weights, n * sizeof(float)) == 0)
    return {e->form.data(), true, e};
  e->made = false;
  e->source.assign(weights, weights + n);
  e->form.resize(static_cast<size_t>(count));
  c.trim();  // e is the most recent: it stays
  return {e->form.data(), false, e};
}

void derived_made(const DerivedSlot& slot) {
  static_cast<Entry*>(slot.entry)->made = true;
}

}  // namespace convlab::kernels
