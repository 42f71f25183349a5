#include "convlab/train/weights.h"

#include <map>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/io/pickle.h"
#include "convlab/io/safetensors.h"
#include "convlab/limits.h"

namespace convlab::train {

namespace {

// "a, b, c" of the first few names, and how many in all.
std::string name_list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 8; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 8) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

}  // namespace

void load_weights(nn::Module& model, const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path, memory_limit_bytes(), "weights file");
  refuse_pickle(path, bytes);
  load_weights(model, safetensors::File(std::move(bytes), excerpt(path)));
}

void load_weights(nn::Module& model, const safetensors::File& file) {
  const auto state = nn::state_dict(model);
  std::vector<std::string> missing, unexpected, mismatched;
  std::map<std::string, bool> expected;
  for (const nn::NamedTensor& t : state) {
    expected[t.name] = true;
    const safetensors::Entry* e = file.find(t.name);
    if (!e)
      missing.push_back(excerpt(t.name, 60));
    else if (Shape(e->shape) != t.value->shape())
      mismatched.push_back(excerpt(t.name, 60) + " (the file has " + to_string(Shape(e->shape)) +
                           ", the model " + to_string(t.value->shape()) + ")");
  }
  for (const safetensors::Entry& e : file.entries())
    if (!expected.count(e.name)) unexpected.push_back(excerpt(e.name, 60));
  std::string problems;
  if (!missing.empty()) problems += "missing key(s): " + name_list(missing);
  if (!unexpected.empty())
    problems +=
        (problems.empty() ? "" : "; ") + std::string("unexpected key(s): ") + name_list(unexpected);
  if (!mismatched.empty())
    problems +=
        (problems.empty() ? "" : "; ") + std::string("size mismatch for ") + name_list(mismatched);
  if (!problems.empty())
    throw IoError(file.path() + " does not fit the model's state_dict: " + problems);
  // Everything converted first, then assigned: a failure leaves the model as it was.
  std::vector<Tensor> values;
  for (const nn::NamedTensor& t : state) {
    const safetensors::Entry& e = *file.find(t.name);
    if (t.integer) {
      const int64_t v = file.integer_scalar(e);
      if (v < 0 || v > (int64_t{1} << 24))
        throw IoError(file.path() + ": " + excerpt(t.name) + " holds " + std::to_string(v) +
                      "; expected a count from 0 to 2^24");
      values.emplace_back(t.value->shape(), static_cast<float>(v));
    } else {
      values.push_back(file.floats(e));
    }
  }
  for (size_t i = 0; i < state.size(); ++i) *state[i].value = std::move(values[i]);
}

void save_weights(nn::Module& model, const std::string& path, const std::string& model_text) {
  std::vector<safetensors::Named> named;
  for (const nn::NamedTensor& t : nn::state_dict(model))
    named.push_back({t.name, t.value, t.integer});
  safetensors::save(path, named, {{"format", "pt"}, {"convlab_model", model_text}});
}

}  // namespace convlab::train
