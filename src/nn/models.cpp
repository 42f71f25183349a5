#include "convlab/nn/models.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/limits.h"
#include "convlab/nn/layers.h"

namespace convlab::nn {

namespace {

void add_common_tail(Sequential& m, int64_t in_channels, Generator& gen) {
  m.push_back(std::make_shared<Conv2d>(Conv2dOptions(in_channels, 8, 3).stride(1).padding(1), gen));
  m.push_back(std::make_shared<ReLU>());
  m.push_back(std::make_shared<Conv2d>(Conv2dOptions(8, 16, 3).stride(1).padding(1), gen));
  m.push_back(std::make_shared<ReLU>());
  m.push_back(std::make_shared<MaxPool2d>(2, 2));
  m.push_back(std::make_shared<Flatten>());
  m.push_back(std::make_shared<Linear>(16 * 16 * 16, 64, true, gen));
  m.push_back(std::make_shared<ReLU>());
  m.push_back(std::make_shared<Linear>(64, 10, true, gen));
}

// ---- the model-file parser ----

// One argument of a layer call: positional (key empty) or key=value; a value is a list of ints
// ("3", "(3, 3)") or a word ("True", "False").
struct Arg {
  std::string key;
  std::vector<int64_t> ints;
  std::string word;
};

// The layer names the parser knows, for "unknown layer" messages.
const char* const kKnownLayers = "Conv2d, ReLU, MaxPool2d, Flatten, Linear, ChannelSum";
bool is_known_layer(const std::string& name) {
  for (const char* k : {"Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "ChannelSum"})
    if (name == k) return true;
  return false;
}

// Parses one line; errors name "file:line:column" (column 1-based in the file's line, `column0`
// being where this parser's text starts) and show at most a short, escaped excerpt of the line.
class LineParser {
 public:
  LineParser(std::string text, std::string where, size_t column0 = 0)
      : s_(std::move(text)), where_(std::move(where)), column0_(column0) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw ParseError(where_ + ":" + std::to_string(column0_ + std::min(i_, s_.size()) + 1) + ": " +
                     what);
  }
  std::string shown() const { return excerpt(s_, 80); }

  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* context) {
    if (!eat(c)) fail(std::string("expected '") + c + "' " + context + " in: " + shown());
  }
  bool at_end() {
    skip_space();
    return i_ >= s_.size();
  }
  std::string identifier() {
    skip_space();
    const size_t start = i_;
    while (i_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_' || s_[i_] == '.'))
      ++i_;
    return s_.substr(start, i_ - start);
  }
  int64_t integer() {
    skip_space();
    const size_t start = i_;
    if (i_ < s_.size() && (s_[i_] == '-' || s_[i_] == '+')) ++i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    const std::string t = s_.substr(start, i_ - start);
    if (t.empty() || t == "-" || t == "+") fail("expected a whole number in: " + shown());
    if (t.size() > 12) fail("number " + excerpt(t, 24) + " is too large");
    return std::stoll(t);
  }
  Arg value() {
    Arg a;
    skip_space();
    if (eat('(')) {
      a.ints.push_back(integer());
      while (eat(',')) {
        if (eat(')')) return a;  // "(3,)"
        a.ints.push_back(integer());
      }
      expect(')', "closing a tuple");
    } else if (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_]))) {
      a.word = identifier();
    } else {
      a.ints.push_back(integer());
    }
    return a;
  }
  // Name(arg, key=value, ...)
  std::pair<std::string, std::vector<Arg>> call() {
    skip_space();
    const size_t name_at = i_;
    std::string name = identifier();
    if (name.rfind("nn.", 0) == 0) name = name.substr(3);
    if (name.rfind("torch.nn.", 0) == 0) name = name.substr(9);
    if (name.empty()) fail("expected a layer such as Conv2d(3, 8, kernel_size=3) in: " + shown());
    if (!is_known_layer(name)) {
      i_ = name_at;  // the column of the name, not of what follows it
      fail("unknown layer '" + excerpt(name, 40) + "' (known: " + kKnownLayers + ")");
    }
    expect('(', "after the layer name");
    std::vector<Arg> args;
    if (!eat(')')) {
      do {
        skip_space();
        const size_t save = i_;
        std::string key = identifier();
        if (!key.empty() && eat('=')) {
          Arg a = value();
          a.key = key;
          args.push_back(a);
        } else {
          i_ = save;
          args.push_back(value());
        }
      } while (eat(','));
      expect(')', "closing the argument list");
    }
    return {name, args};
  }

 private:
  std::string s_;
  std::string where_;
  size_t column0_;
  size_t i_ = 0;
};

// Binds positional and keyword arguments to a layer's parameter names, PyTorch's order.
class Bound {
 public:
  Bound(const std::string& layer, const std::vector<std::string>& names,
        const std::vector<Arg>& args, const LineParser& p)
      : layer_(layer), p_(p) {
    size_t pos = 0;
    for (const Arg& a : args) {
      std::string key = a.key;
      if (key.empty()) {
        if (pos >= names.size())
          p.fail(layer + " takes at most " + std::to_string(names.size()) +
                 " positional arguments");
        key = names[pos++];
      } else if (std::find(names.begin(), names.end(), key) == names.end()) {
        p.fail(layer + " has no argument '" + key + "'");
      }
      if (values_.count(key)) p.fail(layer + ": argument '" + key + "' given twice");
      values_[key] = a;
    }
  }
  bool has(const std::string& k) const { return values_.count(k) > 0; }
  int64_t integer(const std::string& k, std::optional<int64_t> fallback = std::nullopt) const {
    auto it = values_.find(k);
    if (it == values_.end()) {
      if (!fallback) p_.fail(layer_ + " needs '" + k + "'");
      return *fallback;
    }
    if (it->second.ints.size() != 1) p_.fail(layer_ + ": '" + k + "' must be one whole number");
    return it->second.ints[0];
  }
  Size2 size2(const std::string& k, std::optional<Size2> fallback = std::nullopt) const {
    auto it = values_.find(k);
    if (it == values_.end()) {
      if (!fallback) p_.fail(layer_ + " needs '" + k + "'");
      return *fallback;
    }
    const auto& v = it->second.ints;
    if (v.size() == 1) return Size2(v[0]);
    if (v.size() == 2) return Size2(v[0], v[1]);
    p_.fail(layer_ + ": '" + k + "' must be a number or a pair (h, w)");
  }
  bool boolean(const std::string& k, bool fallback) const {
    auto it = values_.find(k);
    if (it == values_.end()) return fallback;
    if (it->second.word == "True") return true;
    if (it->second.word == "False") return false;
    p_.fail(layer_ + ": '" + k + "' must be True or False");
  }

 private:
  std::string layer_;
  const LineParser& p_;
  std::map<std::string, Arg> values_;
};

ModulePtr make_layer(const std::string& name, const std::vector<Arg>& args, const LineParser& p,
                     Generator& gen) {
  if (name == "Conv2d") {
    Bound b(name,
            {"in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
             "groups", "bias", "padding_mode"},
            args, p);
    if (b.has("dilation") && (b.size2("dilation").h != 1 || b.size2("dilation").w != 1))
      p.fail("Conv2d: only dilation=1 is supported");
    if (b.has("groups") && b.integer("groups") != 1) p.fail("Conv2d: only groups=1 is supported");
    if (b.has("padding_mode")) p.fail("Conv2d: padding_mode is not supported (zeros only)");
    return std::make_shared<Conv2d>(
        Conv2dOptions(b.integer("in_channels"), b.integer("out_channels"), b.size2("kernel_size"))
            .stride(b.size2("stride", Size2(1)))
            .padding(b.size2("padding", Size2(0)))
            .bias(b.boolean("bias", true)),
        gen);
  }
  if (name == "ReLU") {
    Bound b(name, {"inplace"}, args, p);
    return std::make_shared<ReLU>();
  }
  if (name == "MaxPool2d") {
    Bound b(name, {"kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"},
            args, p);
    if (b.has("dilation") && b.integer("dilation") != 1)
      p.fail("MaxPool2d: only dilation=1 is supported");
    if (b.boolean("ceil_mode", false)) p.fail("MaxPool2d: only ceil_mode=False is supported");
    const Size2 k = b.size2("kernel_size");
    return std::make_shared<MaxPool2d>(
        k, b.has("stride") ? std::optional<Size2>(b.size2("stride")) : std::nullopt,
        b.size2("padding", Size2(0)));
  }
  if (name == "Flatten") {
    Bound b(name, {"start_dim", "end_dim"}, args, p);
    if (b.integer("start_dim", 1) != 1 || b.integer("end_dim", -1) != -1)
      p.fail("Flatten: only start_dim=1, end_dim=-1 is supported");
    return std::make_shared<Flatten>();
  }
  if (name == "Linear") {
    Bound b(name, {"in_features", "out_features", "bias"}, args, p);
    return std::make_shared<Linear>(b.integer("in_features"), b.integer("out_features"),
                                    b.boolean("bias", true), gen);
  }
  if (name == "ChannelSum") {
    Bound b(name, {"dim", "keepdim"}, args, p);
    if (b.integer("dim", 1) != 1 || !b.boolean("keepdim", true))
      p.fail("ChannelSum: only dim=1, keepdim=True is supported");
    return std::make_shared<ChannelSum>();
  }
  p.fail("unknown layer '" + excerpt(name, 40) + "' (known: " + kKnownLayers + ")");
}

}  // namespace

std::shared_ptr<Sequential> make_standard(Generator& gen) {
  auto m = std::make_shared<Sequential>();
  add_common_tail(*m, 3, gen);
  return m;
}

std::shared_ptr<Sequential> make_sumfirst(Generator& gen) {
  auto m = std::make_shared<Sequential>();
  m->push_back(std::make_shared<ChannelSum>());
  add_common_tail(*m, 1, gen);
  return m;
}

std::shared_ptr<Sequential> parse_model(const std::string& text, const std::string& source,
                                        Generator& gen) {
  auto model = std::make_shared<Sequential>();
  // A UTF-8 byte order mark (editors on Windows write one) is not part of the text.
  std::istringstream in(text.rfind("\xEF\xBB\xBF", 0) == 0 ? text.substr(3) : text);
  std::string line;
  int number = 0;
  bool opened = false, closed = false;
  while (std::getline(in, line)) {
    ++number;
    const std::string where = source + ":" + std::to_string(number);
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    LineParser p(line, where);
    if (p.at_end()) continue;
    if (closed) p.fail("text after the closing ')' of Sequential(");
    const size_t indent = line.find_first_not_of(" \t\r\v\f");
    std::string trimmed = line.substr(indent);
    while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back())))
      trimmed.pop_back();
    size_t column = indent;
    if (trimmed == "Sequential(" || trimmed == "nn.Sequential(") {
      if (opened || model->size()) p.fail("'Sequential(' may only open the file");
      opened = true;
      continue;
    }
    if (trimmed == ")" || trimmed == "),") {
      if (!opened) p.fail("')' without 'Sequential('");
      closed = true;
      continue;
    }
    // "(3): Layer(...)" as PyTorch prints; the index must count up from 0.
    if (trimmed[0] == '(' && trimmed.find("):") != std::string::npos) {
      LineParser idx(trimmed, where, indent);
      idx.expect('(', "");
      const int64_t k = idx.integer();
      if (k != static_cast<int64_t>(model->size()))
        p.fail("layer index (" + std::to_string(k) + ") out of order; expected (" +
               std::to_string(model->size()) + ")");
      const size_t after = trimmed.find("):") + 2;
      trimmed = trimmed.substr(after);
      column += after;
    }
    if (!trimmed.empty() && trimmed.back() == ',')
      trimmed.pop_back();  // constructor lists inside nn.Sequential(...)
    LineParser call(trimmed, where, column);
    auto [name, args] = call.call();
    if (!call.at_end()) call.fail("unexpected text after the layer in: " + call.shown());
    ModulePtr layer;
    try {
      layer = make_layer(name, args, call, gen);
    } catch (const ParseError&) {
      throw;
    } catch (const Error& e) {  // a size the layer refuses (overflow, memory): name the line
      throw ValueError(where + ": " + e.what());
    }
    model->push_back(layer, where);
  }
  if (opened && !closed) throw ParseError(source + ": 'Sequential(' is never closed with ')'");
  if (model->size() == 0) throw ParseError(source + ": no layers found");
  return model;
}

std::shared_ptr<Sequential> build_model(const std::string& name_or_path, Generator& gen) {
  if (name_or_path == "standard") return make_standard(gen);
  if (name_or_path == "sumfirst") return make_sumfirst(gen);
  if (name_or_path.empty())
    throw IoError("model: the name is empty (standard, sumfirst or a file)");
  if (path_kind(name_or_path) == PathKind::missing)
    throw IoError("model '" + excerpt(name_or_path) +
                  "' is neither 'standard', 'sumfirst' nor an existing model file");
  // Model text is a few lines; the cap keeps a wrong path (a data file, /dev/zero) harmless.
  const std::string text = read_text_file(name_or_path, kMaxModelFileBytes, "model file");
  return parse_model(text, excerpt(name_or_path), gen);
}

void check_model(Sequential& model, const Shape& input, int64_t classes, bool training) {
  const std::vector<Shape> shapes = model.layer_shapes(input);  // throws naming the layer
  if (shapes.empty()) throw ShapeError("the model has no layers");
  const Shape& out = shapes.back();
  if (out.size() != 2 || out[1] != classes)
    throw ShapeError("the model's output has shape " + to_string(out) + "; expected [N, " +
                     std::to_string(classes) + "] (one score per class)");
  const std::string what = "the model";
  int64_t parameters = 0, activations = 0;
  for (const Parameter* p : model.parameters())
    parameters = checked_add(parameters, p->value.numel(), what);
  for (const Shape& s : shapes)
    activations = checked_add(activations, checked_numel(s, what), what);
  // Training keeps a gradient beside each parameter and two Adam moments; each activation has a
  // gradient of the same size. Floats are 4 bytes.
  const int64_t floats = checked_add(checked_mul(parameters, training ? 4 : 1, what),
                                     checked_mul(activations, training ? 2 : 1, what), what);
  check_memory(static_cast<uint64_t>(checked_mul(floats, 4, what)),
               std::string(training ? "training" : "running") + " the model at batch size " +
                   std::to_string(input.at(0)) + " (" + std::to_string(parameters) +
                   " parameters, " + std::to_string(activations) + " activation values)");
}

}  // namespace convlab::nn
