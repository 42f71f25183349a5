// The model-text parser: what PyTorch prints for print(model), nested containers included, or
// constructor calls one per line. Layers come from the registry (convlab/nn/registry.h); the two
// containers, Sequential and Residual, are recognised by their shape: a line ending in '(' opens
// one, a line ')' closes it, and each child line is "(name): ...".
#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include "convlab/error.h"
#include "convlab/nn/models.h"
#include "convlab/nn/registry.h"
#include "convlab/nn/residual.h"
#include "convlab/nn/sequential.h"

namespace convlab::nn {

namespace {

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
  // A number: whole ("3", "-1") or real ("0.1", "1e-05", ".5", "1."), kept both ways.
  void number(ArgValue& a) {
    skip_space();
    const size_t start = i_;
    if (i_ < s_.size() && (s_[i_] == '-' || s_[i_] == '+')) ++i_;
    while (i_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
            ((s_[i_] == '-' || s_[i_] == '+') && (s_[i_ - 1] == 'e' || s_[i_ - 1] == 'E'))))
      ++i_;
    const std::string t = s_.substr(start, i_ - start);
    if (t.empty() || t == "-" || t == "+") {
      i_ = start;
      fail("expected a number in: " + shown());
    }
    const bool whole =
        t.find_first_not_of("0123456789", t[0] == '-' || t[0] == '+' ? 1 : 0) == std::string::npos;
    if (whole) {
      if (t.size() > 12) {
        i_ = start;
        fail("number " + excerpt(t, 24) + " is too large");
      }
      a.ints.push_back(std::stoll(t));
      a.real = static_cast<double>(a.ints.back());
      return;
    }
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size() || !std::isfinite(v)) {
      i_ = start;
      fail("'" + excerpt(t, 24) + "' is not a number");
    }
    a.real = v;
  }
  ArgValue value() {
    ArgValue a;
    skip_space();
    const size_t start = i_;
    if (eat('(')) {
      a.tuple = true;
      do {
        if (!a.ints.empty() && eat(')')) break;  // "(3,)"
        ArgValue item;
        number(item);
        if (item.ints.size() != 1) fail("tuples hold whole numbers, as in (3, 3)");
        a.ints.push_back(item.ints[0]);
        if (!eat(',')) {
          expect(')', "closing a tuple");
          break;
        }
      } while (true);
    } else if (i_ < s_.size() && (s_[i_] == '\'' || s_[i_] == '"')) {
      const char quote = s_[i_++];
      const size_t close = s_.find(quote, i_);
      if (close == std::string::npos) fail("unterminated string in: " + shown());
      a.string = s_.substr(i_, close - i_);
      a.is_string = true;
      i_ = close + 1;
    } else if (i_ < s_.size() && std::isalpha(static_cast<unsigned char>(s_[i_]))) {
      a.word = identifier();
    } else {
      number(a);
    }
    a.text = s_.substr(start, i_ - start);
    return a;
  }
  // Name(arg, key=value, ...): the name is looked up before the arguments are read, so that an
  // unknown layer is named as such whatever its arguments look like.
  std::pair<const LayerSpec*, std::vector<std::pair<std::string, ArgValue>>> call(
      const LayerRegistry& registry) {
    skip_space();
    const size_t name_at = i_;
    std::string name = identifier();
    for (const char* prefix : {"torch.nn.", "nn."})
      if (name.rfind(prefix, 0) == 0) name = name.substr(std::string(prefix).size());
    if (name.empty()) fail("expected a layer such as Conv2d(3, 8, kernel_size=3) in: " + shown());
    const LayerSpec* spec = registry.find(name);
    if (!spec) {
      i_ = name_at;  // the column of the name, not of what follows it
      fail("unknown layer '" + excerpt(name, 20) + "' (known: " + registry.known_names() + ")");
    }
    expect('(', "after the layer name");
    std::vector<std::pair<std::string, ArgValue>> args;
    if (!eat(')')) {
      do {
        skip_space();
        const size_t save = i_;
        std::string key = identifier();
        if (!key.empty() && eat('=')) {
          args.emplace_back(key, value());
        } else {
          i_ = save;
          args.emplace_back("", value());
        }
      } while (eat(','));
      expect(')', "closing the argument list");
    }
    return {spec, args};
  }

 private:
  std::string s_;
  std::string where_;
  size_t column0_;
  size_t i_ = 0;
};

// A meaningful line: comment removed, surrounding space trimmed, with where it starts.
struct Line {
  std::string text;
  int number;
  size_t column;  // 0-based column of text[0] in the file's line
};

std::vector<Line> meaningful_lines(const std::string& text) {
  // A UTF-8 byte order mark (editors on Windows write one) is not part of the text.
  std::istringstream in(text.rfind("\xEF\xBB\xBF", 0) == 0 ? text.substr(3) : text);
  std::vector<Line> lines;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (const size_t hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    const size_t first = line.find_first_not_of(" \t\r\v\f");
    if (first == std::string::npos) continue;
    const size_t last = line.find_last_not_of(" \t\r\v\f");
    lines.push_back({line.substr(first, last - first + 1), number, first});
  }
  return lines;
}

bool is_container_opening(const std::string& rest) {
  for (const char* c : {"Sequential(", "nn.Sequential(", "torch.nn.Sequential(", "Residual("})
    if (rest == c) return true;
  return false;
}

bool is_closing(const std::string& text) {
  return text == ")" || text == "),";
}

class ModelTextParser {
 public:
  ModelTextParser(const std::string& text, std::string source, Generator& gen)
      : lines_(meaningful_lines(text)),
        source_(std::move(source)),
        gen_(gen),
        registry_(LayerRegistry::builtin()) {}

  std::shared_ptr<Sequential> parse() {
    if (lines_.empty()) throw ParseError(source_ + ": no layers found");
    std::shared_ptr<Sequential> model;
    if (lines_[0].text.find("):") == std::string::npos && is_container_opening(lines_[0].text)) {
      if (lines_[0].text == "Residual(")
        fail(lines_[0], 0, "a model is a Sequential; put the Residual inside one");
      ++i_;
      model = parse_sequential("", lines_[0]);
      if (i_ < lines_.size()) fail(lines_[i_], 0, "text after the closing ')' of Sequential(");
    } else {
      // Constructor calls (or "(k): Layer" lines) without an enclosing Sequential(.
      model = std::make_shared<Sequential>();
      while (i_ < lines_.size()) {
        if (is_closing(lines_[i_].text)) fail(lines_[i_], 0, "')' without 'Sequential('");
        add_child(*model, "", std::to_string(model->size()));
      }
    }
    if (model->size() == 0) throw ParseError(source_ + ": no layers found");
    return model;
  }

 private:
  [[noreturn]] void fail(const Line& line, size_t offset, const std::string& what) const {
    throw ParseError(where(line) + ":" + std::to_string(line.column + offset + 1) + ": " + what);
  }
  std::string where(const Line& line) const { return source_ + ":" + std::to_string(line.number); }
  static std::string join(const std::string& path, const std::string& name) {
    return path.empty() ? name : path + "." + name;
  }

  // The children of a Sequential( opened at `open`, up to its ')'.
  std::shared_ptr<Sequential> parse_sequential(const std::string& path, const Line& open) {
    auto seq = std::make_shared<Sequential>();
    while (true) {
      if (i_ >= lines_.size()) fail(open, 0, "'Sequential(' is never closed with ')'");
      if (is_closing(lines_[i_].text)) {
        ++i_;
        return seq;
      }
      add_child(*seq, path, std::to_string(seq->size()));
    }
  }

  // Residual( with (body): and (shortcut): children, up to its ')'.
  ModulePtr parse_residual(const std::string& path, const Line& open) {
    ModulePtr parts[2];
    const char* names[2] = {"body", "shortcut"};
    for (int k = 0; k < 2; ++k) {
      if (i_ >= lines_.size() || is_closing(lines_[i_].text))
        fail(i_ < lines_.size() ? lines_[i_] : open, 0,
             std::string("Residual needs '(") + names[k] + "): ...' here");
      std::string name;
      parts[k] = parse_item(path, names[k], &name);
    }
    if (i_ >= lines_.size() || !is_closing(lines_[i_].text))
      fail(i_ < lines_.size() ? lines_[i_] : open, 0,
           "expected ')' closing Residual( after its body and shortcut");
    ++i_;
    return std::make_shared<Residual>(parts[0], parts[1]);
  }

  void add_child(Sequential& seq, const std::string& path, const std::string& expected) {
    const Line line = lines_[i_];
    std::string name;
    ModulePtr child = parse_item(path, expected, &name);
    seq.push_back(child, where(line) + " layer " + join(path, name));
  }

  // One child: "(name): Layer(...)", "(name): Container(" ... ")", or without "(name): ".
  // `expected` is the name it must have ("3", "body"); the line's own name must equal it.
  ModulePtr parse_item(const std::string& path, const std::string& expected, std::string* name) {
    const Line line = lines_[i_++];
    std::string rest = line.text;
    size_t offset = 0;
    *name = expected;
    if (rest[0] == '(' && rest.find("):") != std::string::npos) {
      const size_t close = rest.find("):");
      const std::string given = rest.substr(1, close - 1);
      if (given != expected) {
        const bool index = std::all_of(expected.begin(), expected.end(), ::isdigit);
        fail(line, 1,
             index ? "layer index (" + excerpt(given, 24) + ") out of order; expected (" +
                         expected + ")"
                   : "expected (" + expected + "): here; got (" + excerpt(given, 24) + ")");
      }
      offset = rest.find_first_not_of(" \t", close + 2);
      if (offset == std::string::npos)
        fail(line, close + 2, "expected a layer after '(" + expected + "):'");
      rest = rest.substr(offset);
    }
    const std::string child_path = join(path, *name);
    if (is_container_opening(rest)) {
      if (rest == "Residual(") return parse_residual(child_path, line);
      return parse_sequential(child_path, line);
    }
    if (!rest.empty() && rest.back() == ',') rest.pop_back();  // constructor lists
    LineParser p(rest, where(line), line.column + offset);
    auto [spec, args] = p.call(registry_);
    if (!p.at_end()) p.fail("unexpected text after the layer in: " + p.shown());
    try {
      return spec->make(
          LayerArgs(spec->name, spec->parameters, args, [&p](const std::string& m) { p.fail(m); }),
          gen_);
    } catch (const ParseError&) {
      throw;
    } catch (const Error& e) {  // a size the layer refuses (overflow, memory): name the line
      throw ValueError(where(line) + " layer " + child_path + ": " + e.what());
    }
  }

  std::vector<Line> lines_;
  std::string source_;
  Generator& gen_;
  const LayerRegistry& registry_;
  size_t i_ = 0;
};

}  // namespace

std::shared_ptr<Sequential> parse_model(const std::string& text, const std::string& source,
                                        Generator& gen) {
  return ModelTextParser(text, source, gen).parse();
}

LayerArgs layer_arguments(const std::string& repr) {
  auto p = std::make_shared<LineParser>(repr, "layer");
  auto [spec, args] = p->call(LayerRegistry::builtin());
  return LayerArgs(spec->name, spec->parameters, args, [p](const std::string& m) { p->fail(m); });
}

}  // namespace convlab::nn
