// ONNX import (convlab/nn/onnx.h). Three passes over the graph's nodes, which ONNX keeps in
// topological order: constants and shape arithmetic are evaluated symbolically (the batch size is
// a symbol, so x.view(x.size(0), -1) is recognised as a flatten); the data path (the values that
// depend on the input) is indexed by consumer; then the data path is walked from the input, a
// node at a time, a fork of two branches joining at an Add becoming a Residual. The result is
// rendered as the model text PyTorch prints and parsed by convlab's own parser, so an imported
// model is exactly a model file plus a state_dict.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/io/pickle.h"
#include "convlab/limits.h"
#include "convlab/nn/models.h"
#include "convlab/nn/onnx.h"

namespace convlab::nn {

namespace {

constexpr const char* kSupported =
    "Conv, Relu, LeakyRelu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Gemm, "
    "MatMul, Add, BatchNormalization, Dropout, Identity, ReduceSum, Constant, Shape, Gather, "
    "Unsqueeze, Concat";

// Elements of a symbolic integer vector that are not plain numbers.
constexpr int64_t kBatch = INT64_MIN;        // the input's batch size
constexpr int64_t kUnknown = INT64_MIN + 1;  // some extent of the input not known here

// A value that does not depend on the input's data: an initializer, a Constant, or shape
// arithmetic. Integer vectors may hold kBatch and kUnknown.
struct Const {
  std::vector<int64_t> dims;
  bool is_int = false;
  std::vector<float> f;
  std::vector<int64_t> i;
};

// The model being built: leaves with their text and parameters, and Residual blocks.
struct Layer {
  std::string text;
  std::vector<std::pair<std::string, Tensor>> state;   // local names: weight, bias, running_mean...
  std::shared_ptr<std::vector<Layer>> body, shortcut;  // a Residual; shortcut null: Identity()
};
using Block = std::vector<Layer>;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

std::string pair_text(int64_t a, int64_t b) {
  return "(" + std::to_string(a) + ", " + std::to_string(b) + ")";
}

void render(const Block& block, const std::string& prefix, int indent, std::string& text,
            std::vector<std::pair<std::string, Tensor>>& state) {
  const std::string pad(static_cast<size_t>(indent), ' ');
  text += "Sequential(\n";
  for (size_t k = 0; k < block.size(); ++k) {
    const Layer& l = block[k];
    const std::string name = prefix + std::to_string(k);
    text += pad + "  (" + std::to_string(k) + "): ";
    if (l.body) {
      text += "Residual(\n" + pad + "    (body): ";
      render(*l.body, name + ".body.", indent + 4, text, state);
      text += "\n" + pad + "    (shortcut): ";
      if (l.shortcut)
        render(*l.shortcut, name + ".shortcut.", indent + 4, text, state);
      else
        text += "Identity()";
      text += "\n" + pad + "  )\n";
    } else {
      text += l.text + "\n";
      for (const auto& [local, t] : l.state) state.emplace_back(name + "." + local, t);
    }
  }
  text += pad + ")";
}

class Importer {
 public:
  Importer(const onnx::ModelProto& model, std::string path) : m_(model), path_(std::move(path)) {}

  std::shared_ptr<Sequential> build() {
    const onnx::GraphProto& g = m_.graph();
    for (const auto& op : m_.opset_import())
      if (op.domain().empty() || op.domain() == "ai.onnx") opset_ = op.version();
    if (opset_ < 7 || opset_ > 18)
      fail("opset " + std::to_string(opset_) +
           " is not supported (7 to 18; PyTorch 1.13 writes 11 to 17)");
    for (const auto& t : g.initializer())
      consts_[t.name()] = read_tensor(t, "initializer '" + excerpt(t.name()) + "'");
    std::vector<const onnx::ValueInfoProto*> inputs;
    for (const auto& in : g.input())
      if (!consts_.count(in.name())) inputs.push_back(&in);
    if (inputs.size() != 1)
      fail("the graph has " + std::to_string(inputs.size()) +
           " inputs besides its weights; a model takes one (the images)");
    if (g.output_size() != 1)
      fail("the graph has " + std::to_string(g.output_size()) +
           " outputs; a model gives one (the scores)");
    input_ = inputs[0]->name();
    data_.insert(input_);
    for (int k = 0; k < g.node_size(); ++k) classify(g.node(k));
    const auto [block, end, join] = walk(input_);
    if (join) fail_node(*join, "adds values that do not both come from one fork of the graph");
    if (end != g.output(0).name())
      fail("the chain of layers ends at '" + excerpt(end) + "', not at the graph's output '" +
           excerpt(g.output(0).name()) + "'");
    std::string text;
    std::vector<std::pair<std::string, Tensor>> state;
    render(block, "", 0, text, state);
    Generator gen(0);  // initial values, all replaced below
    std::shared_ptr<Sequential> model;
    try {
      model = parse_model(text + "\n", path_ + " (as model text)", gen);
    } catch (const Error& e) {
      fail(std::string("the graph does not make a model: ") + e.what());
    }
    std::map<std::string, Tensor*> slots;
    for (const NamedTensor& t : state_dict(*model)) slots[t.name] = t.value;
    for (auto& [name, t] : state) {
      Tensor* slot = slots.at(name);
      if (slot->shape() != t.shape())
        fail("the weights for " + name + " have shape " + to_string(t.shape()) +
             "; the layer needs " + to_string(slot->shape()));
      *slot = std::move(t);
    }
    check_input_shape(*inputs[0], *model);
    return model;
  }

 private:
  const onnx::ModelProto& m_;
  std::string path_;
  int64_t opset_ = 0;
  std::string input_;
  std::map<std::string, Const> consts_;
  std::set<std::string> data_;  // values that depend on the input
  std::map<std::string, std::vector<const onnx::NodeProto*>>
      users_;  // data value -> its data consumers
  static constexpr int kMaxNesting = 64;
  int depth_ = 0;  // Adds folded into a MatMul

  [[noreturn]] void fail(const std::string& what) const { throw IoError(path_ + ": " + what); }
  [[noreturn]] void fail_node(const onnx::NodeProto& n, const std::string& what) const {
    fail("node '" + excerpt(n.name(), 80) + "' (" + excerpt(n.op_type(), 40) + "): " + what);
  }

  Const read_tensor(const onnx::TensorProto& t, const std::string& what) const {
    if (t.data_location() == onnx::TensorProto::EXTERNAL)
      fail(what + " keeps its data in an external file; convlab reads self-contained .onnx files");
    Const c;
    uint64_t n = 1;
    for (int64_t d : t.dims()) {
      if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n))
        fail(what + " has an impossible shape");
      c.dims.push_back(d);
    }
    const std::string& raw = t.raw_data();
    auto take = [&](int count, uint64_t size, const char* type) {
      // The data the file holds must be exactly the shape's: nothing is allocated for a shape
      // the file does not back with bytes.
      const bool from_raw = t.has_raw_data() || count == 0;
      const uint64_t have = from_raw ? raw.size() : static_cast<uint64_t>(count) * size;
      if (n > UINT64_MAX / size || have != n * size)
        fail(what + " (" + type + ", shape " + to_string(Shape(c.dims)) + ") holds " +
             std::to_string(have) + " bytes of data; its shape needs " + std::to_string(n * size));
      return from_raw;
    };
    bool from_raw = false;
    switch (t.data_type()) {
      case onnx::TensorProto::FLOAT:
        from_raw = take(t.float_data_size(), 4, "FLOAT");  // before anything is allocated
        c.f.resize(n);
        if (from_raw) {
          if (n) std::memcpy(c.f.data(), raw.data(), n * 4);
        } else {
          for (uint64_t k = 0; k < n; ++k) c.f[k] = t.float_data(static_cast<int>(k));
        }
        break;
      case onnx::TensorProto::DOUBLE:
        from_raw = take(t.double_data_size(), 8, "DOUBLE");  // before anything is allocated
        c.f.resize(n);
        if (from_raw) {
          for (uint64_t k = 0; k < n; ++k) {
            double v;
            std::memcpy(&v, raw.data() + 8 * k, 8);
            c.f[k] = static_cast<float>(v);
          }
        } else {
          for (uint64_t k = 0; k < n; ++k)
            c.f[k] = static_cast<float>(t.double_data(static_cast<int>(k)));
        }
        break;
      case onnx::TensorProto::INT64:
        c.is_int = true;
        from_raw = take(t.int64_data_size(), 8, "INT64");  // before anything is allocated
        c.i.resize(n);
        if (from_raw) {
          if (n) std::memcpy(c.i.data(), raw.data(), n * 8);
        } else {
          for (uint64_t k = 0; k < n; ++k) c.i[k] = t.int64_data(static_cast<int>(k));
        }
        break;
      case onnx::TensorProto::INT32:
        c.is_int = true;
        from_raw = take(t.int32_data_size(), 4, "INT32");  // before anything is allocated
        c.i.resize(n);
        if (from_raw) {
          for (uint64_t k = 0; k < n; ++k) {
            int32_t v;
            std::memcpy(&v, raw.data() + 4 * k, 4);
            c.i[k] = v;
          }
        } else {
          for (uint64_t k = 0; k < n; ++k) c.i[k] = t.int32_data(static_cast<int>(k));
        }
        break;
      default:
        fail(what + " has data type " + std::to_string(t.data_type()) +
             "; convlab reads FLOAT, DOUBLE, INT64 and INT32 tensors");
    }
    return c;
  }

  // ---- attributes ----
  const onnx::AttributeProto* attr(const onnx::NodeProto& n, const char* name) const {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  int64_t attr_int(const onnx::NodeProto& n, const char* name, int64_t dflt) const {
    const auto* a = attr(n, name);
    return a ? a->i() : dflt;
  }
  float attr_float(const onnx::NodeProto& n, const char* name, float dflt) const {
    const auto* a = attr(n, name);
    return a ? a->f() : dflt;
  }
  std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const char* name,
                                 std::vector<int64_t> dflt) const {
    const auto* a = attr(n, name);
    return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : dflt;
  }
  // A constant input (initializer or Constant), or a message naming it.
  const Const& constant(const onnx::NodeProto& n, int k, const char* role) const {
    if (k >= n.input_size() || n.input(k).empty()) fail_node(n, std::string("has no ") + role);
    auto it = consts_.find(n.input(k));
    if (it == consts_.end())
      fail_node(n, std::string("its ") + role + " '" + excerpt(n.input(k)) +
                       "' is not a constant; convlab needs it fixed in the file");
    return it->second;
  }
  const Const* optional_constant(const onnx::NodeProto& n, int k, const char* role) const {
    if (k >= n.input_size() || n.input(k).empty()) return nullptr;
    return &constant(n, k, role);
  }
  Tensor floats(const onnx::NodeProto& n, const Const& c, const char* role,
                const Shape& expected) const {
    if (c.is_int) fail_node(n, std::string("its ") + role + " holds integers where floats belong");
    if (Shape(c.dims) != expected)
      fail_node(n, std::string("its ") + role + " has shape " + to_string(Shape(c.dims)) +
                       "; its use needs " + to_string(expected));
    return Tensor(expected, c.f);
  }
  void only_first_output_used(const onnx::NodeProto& n) const {
    for (int k = 1; k < n.output_size(); ++k)
      if (!n.output(k).empty() && users_.count(n.output(k)))
        fail_node(n,
                  "its output " + std::to_string(k) + " is used; convlab computes the first only");
  }

  // ---- pass 1: constants and shapes; pass 2: the data path's consumers ----
  void classify(const onnx::NodeProto& n) {
    const std::string& op = n.op_type();
    if (!n.domain().empty() && n.domain() != "ai.onnx")
      fail_node(n, "is in domain '" + excerpt(n.domain()) +
                       "'; convlab supports the standard ops " + kSupported);
    if (n.output_size() < 1) fail_node(n, "has no output");
    bool any_data = false;
    for (const auto& in : n.input()) any_data |= data_.count(in) > 0;
    if (op == "Constant") {
      const auto* v = attr(n, "value");
      if (!v || !v->has_t())
        fail_node(n, "has no tensor 'value' (other Constant forms are not supported)");
      consts_[n.output(0)] = read_tensor(v->t(), "Constant '" + excerpt(n.name()) + "'");
      return;
    }
    if (op == "Shape") {
      if (!data_.count(n.input(0))) fail_node(n, "takes the shape of a constant");
      Const c;
      c.is_int = true;
      c.dims = {4};
      c.i = {kBatch, kUnknown, kUnknown, kUnknown};
      consts_[n.output(0)] = c;
      return;
    }
    if (!any_data) {
      if (op == "Gather" || op == "Unsqueeze" || op == "Concat" || op == "Cast" ||
          op == "Identity") {
        consts_[n.output(0)] = shape_arithmetic(n);
        return;
      }
      fail_node(n,
                "computes on constants only, with an op convlab does not evaluate (it evaluates "
                "Gather, Unsqueeze, Concat, Cast and Identity)");
    }
    static const std::set<std::string> data_ops = {
        "Conv",    "Relu",     "LeakyRelu", "MaxPool", "AveragePool", "GlobalAveragePool",
        "Flatten", "Reshape",  "Gemm",      "MatMul",  "Add",         "BatchNormalization",
        "Dropout", "Identity", "ReduceSum"};
    if (!data_ops.count(op))
      fail_node(n, "is not supported (supported: " + std::string(kSupported) + ")");
    data_.insert(n.output(0));
    for (const auto& in : n.input())
      if (data_.count(in)) {
        auto& u = users_[in];
        if (u.empty() || u.back() != &n) u.push_back(&n);
      }
  }

  Const shape_arithmetic(const onnx::NodeProto& n) const {
    const std::string& op = n.op_type();
    if (op == "Cast" || op == "Identity") return constant(n, 0, "input");
    if (op == "Gather") {
      const Const& data = constant(n, 0, "data");
      const Const& idx = constant(n, 1, "indices");
      if (!data.is_int || !idx.is_int || data.dims.size() != 1 || idx.i.size() != 1 ||
          attr_int(n, "axis", 0) != 0)
        fail_node(n,
                  "is not an element of a shape (convlab evaluates Gather of one index from a 1-D "
                  "shape)");
      int64_t k = idx.i[0];
      const int64_t size = static_cast<int64_t>(data.i.size());
      if (k < 0) k += size;
      if (k < 0 || k >= size) fail_node(n, "index out of range");
      Const c;
      c.is_int = true;
      if (!idx.dims.empty()) c.dims = {1};
      c.i = {data.i[static_cast<size_t>(k)]};
      return c;
    }
    if (op == "Unsqueeze") {
      Const c = constant(n, 0, "data");
      if (c.dims.size() > 1) fail_node(n, "unsqueezes something not a scalar or a 1-D shape");
      c.dims = {static_cast<int64_t>(c.is_int ? c.i.size() : c.f.size())};
      return c;
    }
    // Concat of 1-D integer vectors.
    Const c;
    c.is_int = true;
    for (int k = 0; k < n.input_size(); ++k) {
      const Const& part = constant(n, k, "input");
      if (!part.is_int || part.dims.size() != 1)
        fail_node(n, "concatenates something not a 1-D shape");
      c.i.insert(c.i.end(), part.i.begin(), part.i.end());
    }
    c.dims = {static_cast<int64_t>(c.i.size())};
    return c;
  }

  // ---- pass 3: the data path, from `v` to where it ends or joins another branch ----
  struct Walk {
    Block block;
    std::string end;
    const onnx::NodeProto* join = nullptr;  // the Add where this branch meets another
  };

  static bool is_join(const onnx::NodeProto& n, const std::set<std::string>& data) {
    return n.op_type() == "Add" && n.input_size() == 2 && data.count(n.input(0)) &&
           data.count(n.input(1));
  }

  Walk walk(std::string v) {
    Walk w;
    for (;;) {
      auto it = users_.find(v);
      const size_t count = it == users_.end() ? 0 : it->second.size();
      if (count == 0) break;
      if (count == 1) {
        const onnx::NodeProto& n = *it->second[0];
        if (is_join(n, data_)) {
          w.join = &n;
          break;
        }
        v = convert(n, w.block);
        continue;
      }
      if (count != 2)
        fail("value '" + excerpt(v) + "' feeds " + std::to_string(count) +
             " nodes; convlab models branch in two only (a Residual)");
      // Residual blocks nest (a block inside a branch); a crafted graph must not nest them
      // deeper than any network does, or the walk's recursion would exhaust the stack.
      if (++depth_ > kMaxNesting)
        fail("Residual blocks nest deeper than " + std::to_string(kMaxNesting));
      v = residual(v, it->second, w.block);
      --depth_;
    }
    w.end = v;
    return w;
  }

  // Two branches from v meeting at one Add: Residual(body = the Add's first input's branch).
  std::string residual(const std::string& v, const std::vector<const onnx::NodeProto*>& users,
                       Block& block) {
    Walk branch[2];
    for (int k = 0; k < 2; ++k) {
      const onnx::NodeProto& n = *users[static_cast<size_t>(k)];
      if (is_join(n, data_)) {
        branch[k].join = &n;
        branch[k].end = v;
      } else {
        const std::string next = convert(n, branch[k].block);
        Walk rest = walk(next);
        for (auto& l : rest.block) branch[k].block.push_back(std::move(l));
        branch[k].end = rest.end;
        branch[k].join = rest.join;
      }
    }
    const onnx::NodeProto* join = branch[0].join;
    if (!join || join != branch[1].join)
      fail("the two branches from '" + excerpt(v) + "' do not meet at one Add");
    if (join->input(0) == join->input(1)) fail_node(*join, "adds a value to itself");
    const int body = branch[0].end == join->input(0) ? 0 : 1;
    if (branch[body].end != join->input(0) || branch[1 - body].end != join->input(1))
      fail_node(*join, "joins values other than its two branches");
    Layer r;
    r.body = std::make_shared<Block>(std::move(branch[body].block));
    if (r.body->empty()) r.body->push_back({"Identity()", {}, nullptr, nullptr});
    if (!branch[1 - body].block.empty())
      r.shortcut = std::make_shared<Block>(std::move(branch[1 - body].block));
    block.push_back(std::move(r));
    return join->output(0);
  }

  // One node of the chain: appends its layer (none for a no-op) and returns its output.
  std::string convert(const onnx::NodeProto& n, Block& block) {
    const std::string& op = n.op_type();
    only_first_output_used(n);
    if (n.input_size() < 1 || !data_.count(n.input(0)))
      fail_node(n, "takes the data as an input other than its first");
    auto leaf = [&](std::string text, std::vector<std::pair<std::string, Tensor>> state = {}) {
      block.push_back({std::move(text), std::move(state), nullptr, nullptr});
    };
    if (op == "Relu") {
      leaf("ReLU()");
    } else if (op == "LeakyRelu") {
      leaf("LeakyReLU(negative_slope=" + num(attr_float(n, "alpha", 0.01f)) + ")");
    } else if (op == "Identity") {
      leaf("Identity()");
    } else if (op == "Dropout") {
      if (n.input_size() > 2 && !n.input(2).empty()) {
        const Const& mode = constant(n, 2, "training_mode");
        if (mode.i.empty() && mode.f.empty()) fail_node(n, "has an empty training_mode");
        if ((mode.is_int ? mode.i[0] != 0 : mode.f[0] != 0)) fail_node(n, "runs in training mode");
      }
      float p = attr_float(n, "ratio", 0.5f);
      if (const Const* r = optional_constant(n, 1, "ratio")) {
        if (r->is_int || r->f.size() != 1) fail_node(n, "its ratio is not one float");
        p = r->f[0];
      }
      if (!(p >= 0 && p < 1)) fail_node(n, "ratio " + num(p) + " is outside [0, 1)");
      leaf("Dropout(p=" + num(p) + ", inplace=False)");
    } else if (op == "Conv") {
      conv(n, block);
    } else if (op == "MaxPool" || op == "AveragePool") {
      pool(n, block);
    } else if (op == "GlobalAveragePool") {
      leaf("AdaptiveAvgPool2d(output_size=(1, 1))");
    } else if (op == "Flatten") {
      if (attr_int(n, "axis", 1) != 1)
        fail_node(n, "flattens from axis " + std::to_string(attr_int(n, "axis", 1)) +
                         "; convlab flattens from 1");
      leaf("Flatten(start_dim=1, end_dim=-1)");
    } else if (op == "Reshape") {
      const Const& s = constant(n, 1, "shape");
      const bool batch_first = s.i.size() == 2 && (s.i[0] == kBatch || s.i[0] == 0);
      const bool infer_batch = s.i.size() == 2 && s.i[0] == -1 && s.i[1] > 0;
      if (!s.is_int || (!(batch_first && (s.i[1] == -1 || s.i[1] > 0)) && !infer_batch))
        fail_node(n, "reshapes to something other than [batch, -1] (a flatten)");
      leaf("Flatten(start_dim=1, end_dim=-1)");
    } else if (op == "Gemm") {
      if (attr_int(n, "transA", 0) != 0 || attr_float(n, "alpha", 1) != 1 ||
          attr_float(n, "beta", 1) != 1)
        fail_node(n, "is not a Linear layer (transA must be 0, alpha and beta 1)");
      const Const& w = constant(n, 1, "weight");
      if (w.dims.size() != 2) fail_node(n, "its weight is not a matrix");
      const bool trans = attr_int(n, "transB", 0) != 0;
      const int64_t out = trans ? w.dims[0] : w.dims[1], in = trans ? w.dims[1] : w.dims[0];
      Tensor weight = floats(n, w, "weight", Shape(w.dims));
      if (!trans) weight = transposed(weight);
      linear(n, in, out, std::move(weight), optional_constant(n, 2, "bias"), block);
    } else if (op == "MatMul") {
      const Const& w = constant(n, 1, "weight");
      if (w.dims.size() != 2) fail_node(n, "its weight is not a matrix");
      // A bias Add right after, of a constant: folded into the Linear layer.
      const Const* bias = nullptr;
      std::string out = n.output(0);
      auto it = users_.find(out);
      if (it != users_.end() && it->second.size() == 1 && it->second[0]->op_type() == "Add" &&
          !is_join(*it->second[0], data_)) {
        const onnx::NodeProto& add = *it->second[0];
        bias = &constant(add, add.input(0) == out ? 1 : 0, "bias");
        out = add.output(0);
      }
      linear(n, w.dims[0], w.dims[1], transposed(floats(n, w, "weight", Shape(w.dims))), bias,
             block);
      return out;
    } else if (op == "Add") {
      fail_node(n, "adds a constant to the data outside a Linear layer's bias");
    } else if (op == "BatchNormalization") {
      batch_norm(n, block);
    } else if (op == "ReduceSum") {
      std::vector<int64_t> axes = attr_ints(n, "axes", {});
      if (const Const* a = optional_constant(n, 1, "axes")) axes = a->i;
      if (axes != std::vector<int64_t>{1} || attr_int(n, "keepdims", 1) != 1)
        fail_node(n, "is not a sum over channels that keeps the dimension (axes [1], keepdims 1)");
      leaf("ChannelSum()");
    } else {
      fail_node(n, "is not supported here (supported: " + std::string(kSupported) + ")");
    }
    return n.output(0);
  }

  static Tensor transposed(const Tensor& w) {
    Tensor t({w.size(1), w.size(0)});
    for (int64_t r = 0; r < w.size(0); ++r)
      for (int64_t c = 0; c < w.size(1); ++c)
        t.data()[c * w.size(0) + r] = w.data()[r * w.size(1) + c];
    return t;
  }

  void linear(const onnx::NodeProto& n, int64_t in, int64_t out, Tensor weight, const Const* bias,
              Block& block) {
    std::vector<std::pair<std::string, Tensor>> state{{"weight", std::move(weight)}};
    if (bias) state.emplace_back("bias", floats(n, *bias, "bias", {out}));
    block.push_back({"Linear(in_features=" + std::to_string(in) + ", out_features=" +
                         std::to_string(out) + ", bias=" + (bias ? "True" : "False") + ")",
                     std::move(state), nullptr, nullptr});
  }

  // Symmetric padding of a 2-D op: pads [top, left, bottom, right].
  std::pair<int64_t, int64_t> padding(const onnx::NodeProto& n) const {
    const std::string autopad = attr(n, "auto_pad") ? attr(n, "auto_pad")->s() : "NOTSET";
    if (autopad != "NOTSET" && autopad != "VALID")
      fail_node(n, "uses auto_pad " + excerpt(autopad, 20) + "; convlab needs explicit pads");
    const auto pads = attr_ints(n, "pads", {0, 0, 0, 0});
    if (pads.size() != 4)
      fail_node(n, "is not 2-D (pads has " + std::to_string(pads.size()) + " entries)");
    if (pads[0] != pads[2] || pads[1] != pads[3])
      fail_node(n, "pads asymmetrically; convlab pads both sides alike");
    return {pads[0], pads[1]};
  }

  void conv(const onnx::NodeProto& n, Block& block) {
    const Const& w = constant(n, 1, "weight");
    if (w.dims.size() != 4)
      fail_node(n, "is not a 2-D convolution (its weight has " + std::to_string(w.dims.size()) +
                       " dimensions)");
    if (attr_int(n, "group", 1) != 1)
      fail_node(n, "is a grouped convolution; convlab has group 1 only");
    for (int64_t d : attr_ints(n, "dilations", {1, 1}))
      if (d != 1) fail_node(n, "is dilated; convlab has dilation 1 only");
    const auto kernel = attr_ints(n, "kernel_shape", {w.dims[2], w.dims[3]});
    if (kernel != std::vector<int64_t>{w.dims[2], w.dims[3]})
      fail_node(n, "its kernel_shape does not match its weight");
    const auto strides = attr_ints(n, "strides", {1, 1});
    if (strides.size() != 2) fail_node(n, "is not 2-D");
    const auto [ph, pw] = padding(n);
    const Const* b = optional_constant(n, 2, "bias");
    std::vector<std::pair<std::string, Tensor>> state{
        {"weight", floats(n, w, "weight", Shape(w.dims))}};
    if (b) state.emplace_back("bias", floats(n, *b, "bias", {w.dims[0]}));
    block.push_back({"Conv2d(" + std::to_string(w.dims[1]) + ", " + std::to_string(w.dims[0]) +
                         ", kernel_size=" + pair_text(w.dims[2], w.dims[3]) + ", stride=" +
                         pair_text(strides[0], strides[1]) + ", padding=" + pair_text(ph, pw) +
                         ", bias=" + (b ? "True" : "False") + ")",
                     std::move(state), nullptr, nullptr});
  }

  void pool(const onnx::NodeProto& n, Block& block) {
    const auto kernel = attr_ints(n, "kernel_shape", {});
    if (kernel.size() != 2) fail_node(n, "is not a 2-D pooling");
    const auto strides = attr_ints(n, "strides", {1, 1});
    if (strides.size() != 2) fail_node(n, "is not 2-D");
    for (int64_t d : attr_ints(n, "dilations", {1, 1}))
      if (d != 1) fail_node(n, "is dilated; convlab pools with dilation 1");
    const auto [ph, pw] = padding(n);
    const bool ceil = attr_int(n, "ceil_mode", 0) != 0;
    std::string text = "kernel_size=" + pair_text(kernel[0], kernel[1]) +
                       ", stride=" + pair_text(strides[0], strides[1]) +
                       ", padding=" + pair_text(ph, pw);
    if (n.op_type() == "MaxPool") {
      if (attr_int(n, "storage_order", 0) != 0) fail_node(n, "stores indices column-major");
      block.push_back(
          {"MaxPool2d(" + text + ", dilation=1, ceil_mode=" + (ceil ? "True" : "False") + ")",
           {},
           nullptr,
           nullptr});
    } else {
      block.push_back({"AvgPool2d(" + text + ", ceil_mode=" + (ceil ? "True" : "False") +
                           ", count_include_pad=" +
                           (attr_int(n, "count_include_pad", 0) ? "True" : "False") + ")",
                       {},
                       nullptr,
                       nullptr});
    }
  }

  void batch_norm(const onnx::NodeProto& n, Block& block) {
    if (attr_int(n, "training_mode", 0) != 0) fail_node(n, "runs in training mode");
    const Const& scale = constant(n, 1, "scale");
    if (scale.dims.size() != 1) fail_node(n, "its scale is not a vector");
    const Shape c{scale.dims[0]};
    std::vector<std::pair<std::string, Tensor>> state{
        {"weight", floats(n, scale, "scale", c)},
        {"bias", floats(n, constant(n, 2, "bias"), "bias", c)},
        {"running_mean", floats(n, constant(n, 3, "mean"), "mean", c)},
        {"running_var", floats(n, constant(n, 4, "variance"), "variance", c)}};
    // ONNX's momentum weighs the old estimate; PyTorch's the new batch.
    const double momentum = 1.0 - static_cast<double>(attr_float(n, "momentum", 0.9f));
    const double eps = attr_float(n, "epsilon", 1e-5f);
    if (!(eps > 0) || !(momentum >= 0 && momentum <= 1))
      fail_node(n, "has epsilon or momentum out of range");
    // BatchNorm1d after a flatten or a Linear layer, BatchNorm2d on images.
    bool flat = false;
    for (const Layer& l : block)
      if (!l.body && (l.text.rfind("Flatten", 0) == 0 || l.text.rfind("Linear", 0) == 0))
        flat = true;
    block.push_back({std::string(flat ? "BatchNorm1d(" : "BatchNorm2d(") + std::to_string(c[0]) +
                         ", eps=" + num(eps) + ", momentum=" + num(momentum) +
                         ", affine=True, track_running_stats=True)",
                     std::move(state), nullptr, nullptr});
  }

  void check_input_shape(const onnx::ValueInfoProto& in, Sequential& model) const {
    if (!in.type().has_tensor_type() || !in.type().tensor_type().has_shape()) return;
    const auto& dims = in.type().tensor_type().shape().dim();
    if (dims.size() != 4)
      fail("the graph's input has " + std::to_string(dims.size()) +
           " dimensions; convlab models take images (N, C, H, W)");
    Shape s{1};
    for (int k = 1; k < 4; ++k) {
      if (!dims[k].has_dim_value()) return;  // a symbolic extent: checked when data comes
      s.push_back(dims[k].dim_value());
    }
    try {
      model.layer_shapes(s);
    } catch (const Error& e) {
      fail("the graph's layers do not fit its input " + to_string(s) + ": " + e.what());
    }
  }
};

}  // namespace

std::shared_ptr<Sequential> parse_onnx(const std::vector<uint8_t>& bytes, const std::string& path) {
  onnx::ModelProto model;
  if (bytes.size() > static_cast<size_t>(INT32_MAX) ||
      !model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    refuse_pickle(path, bytes);  // a torch.save file under another name
    throw IoError(path + ": not an ONNX model (the protobuf does not parse)");
  }
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw IoError(path + ": ONNX's checker refuses the model: " + one_line(e.what(), 300));
  }
  return Importer(model, path).build();
}

std::shared_ptr<Sequential> import_onnx(const std::string& path) {
  return parse_onnx(read_file(path, memory_limit_bytes(), "ONNX model"), excerpt(path));
}

}  // namespace convlab::nn
