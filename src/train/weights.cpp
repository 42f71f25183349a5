#include "convlab/train/weights.h"

#include <map>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/io/safetensors.h"
#include "convlab/limits.h"

namespace convlab::train {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "a, b, c" of the first few names, and how many in all.
std::string name_list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 8; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 8) s += ", ... (" + std::to_string(names.size()) + " in all)";
  return s;
}

}  // namespace

void refuse_pickle(const std::string& path, const std::vector<uint8_t>& head) {
  // torch.save writes a zip archive holding a pickle (since PyTorch 1.6), or a bare pickle
  // (protocol 2 and later start with 0x80).
  const bool zip =
      head.size() >= 4 && head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4;
  const bool pickle = head.size() >= 2 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5;
  // A safetensors file starts with its header length, whose bytes may look like a pickle's
  // protocol mark (a 640-byte header is 0x80 0x02); its JSON header at byte 8 tells them apart.
  const bool safetensors_like = head.size() > 8 && head[8] == '{';
  if (!safetensors_like && (zip || pickle || ends_with(path, ".pt") || ends_with(path, ".pth") ||
                            ends_with(path, ".pkl")))
    throw IoError(excerpt(path) +
                  " looks like a PyTorch pickle (torch.save); convlab never loads pickles, which "
                  "can run code when read: save the state_dict with safetensors.torch.save_file, "
                  "or export the model with torch.onnx.export");
}

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
