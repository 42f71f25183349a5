// The layer registry: every layer model text can name, with PyTorch's class name, its arguments
// in PyTorch's positional order, and a factory. The model-text parser, the "known layers" of
// messages and checkpoints (which store model text) all go through it; a new layer is one file
// with its class and its registration (a `register_...` function listed once in registry.cpp).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "convlab/nn/conv2d.h"
#include "convlab/nn/module.h"
#include "convlab/tensor/random.h"

namespace convlab::nn {

// One argument as written in model text: a whole number, a real, a tuple of whole numbers, a word
// (True, False, None) or a quoted string. `text` is what was written (for messages).
struct ArgValue {
  std::string text;
  std::vector<int64_t> ints;  // "3" -> {3}; "(3, 3)" -> {3, 3}
  bool tuple = false;
  std::optional<double> real;  // "0.1", "1e-05", and whole numbers too
  std::string word;            // True, False, None
  std::string string;          // 'zeros'
  bool is_string = false;
};

// A layer's arguments bound to its parameter names (positional in order, then keywords), with
// typed getters that fail with "file:line:column: Layer: ..." through `fail`.
class LayerArgs {
 public:
  using Fail = std::function<void(const std::string&)>;  // throws; never returns
  LayerArgs(std::string layer, const std::vector<std::string>& names,
            const std::vector<std::pair<std::string, ArgValue>>& args, Fail fail);

  bool has(const std::string& k) const { return values_.count(k) > 0; }
  int64_t integer(const std::string& k, std::optional<int64_t> fallback = std::nullopt) const;
  Size2 size2(const std::string& k, std::optional<Size2> fallback = std::nullopt) const;
  bool boolean(const std::string& k, bool fallback) const;
  double real(const std::string& k, std::optional<double> fallback = std::nullopt) const;
  // A real, or None (nullopt); `fallback` when absent.
  std::optional<double> real_or_none(const std::string& k, std::optional<double> fallback) const;
  // Whether the argument was written as a tuple, "(1, 1)".
  bool is_tuple(const std::string& k) const {
    const ArgValue* v = find(k);
    return v && v->tuple;
  }
  // Whether the argument is the word None.
  bool is_none(const std::string& k) const;
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const ArgValue* find(const std::string& k) const;
  std::string layer_;
  std::map<std::string, ArgValue> values_;
  Fail fail_;
};

struct LayerSpec {
  std::string name;                     // PyTorch's class name, "BatchNorm2d"
  std::vector<std::string> parameters;  // PyTorch's constructor parameters, in order
  std::function<ModulePtr(const LayerArgs&, Generator&)> make;
};

class LayerRegistry {
 public:
  // Every built-in layer, registered once.
  static const LayerRegistry& builtin();
  void add(LayerSpec spec);
  const LayerSpec* find(const std::string& name) const;
  // The registered layer names, sorted (containers not included).
  std::vector<std::string> names() const;
  // "AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, ..." (containers included), for messages.
  std::string known_names() const;

 private:
  std::map<std::string, LayerSpec> specs_;
};

// Each layer file's registration (called by LayerRegistry::builtin()).
void register_conv2d(LayerRegistry& r);
void register_basic_layers(LayerRegistry& r);  // ReLU, LeakyReLU, Identity, Flatten, Linear, ...
void register_pooling(LayerRegistry& r);       // MaxPool2d, AvgPool2d, AdaptiveAvgPool2d
void register_batchnorm(LayerRegistry& r);     // BatchNorm1d, BatchNorm2d
void register_dropout(LayerRegistry& r);

// The arguments of one leaf layer's text, "Conv2d(3, 8, kernel_size=(3, 3), ...)" (its repr()),
// bound as the model-text parser binds them: how the ONNX exporter reads a layer's options.
LayerArgs layer_arguments(const std::string& repr);

// A real number as Python's repr prints it: 0.1, 1e-05, 0.5, 1.0 (PyTorch's layer reprs).
std::string python_repr(double v);

}  // namespace convlab::nn
