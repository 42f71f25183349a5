// ONNX export (convlab/nn/onnx.h): each layer's options read back from its own text (the registry's
// argument binding, so the exporter sees exactly what the model file says), each parameter and
// buffer an initializer under its PyTorch name, Residual blocks as two branches and an Add.
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstring>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/nn/layers.h"
#include "convlab/nn/onnx.h"
#include "convlab/nn/registry.h"
#include "convlab/nn/residual.h"

namespace convlab::nn {

namespace {

constexpr int64_t kOpset = 13;

class Exporter {
 public:
  explicit Exporter(onnx::GraphProto& g) : g_(g) {}

  // Appends the nodes of `m` applied to value `x`; returns the value they produce.
  std::string module(Module& m, const std::string& prefix, const std::string& x) {
    if (auto* s = dynamic_cast<Sequential*>(&m)) {
      std::string v = x;
      for (const NamedChild& c : s->children()) v = module(*c.module, join(prefix, c.name), v);
      return v;
    }
    if (auto* r = dynamic_cast<Residual*>(&m)) {
      const std::string body = module(r->body(), join(prefix, "body"), x);
      // An Identity shortcut is the input itself (as PyTorch exports it: no node).
      const std::string shortcut = dynamic_cast<Identity*>(&r->shortcut())
                                       ? x
                                       : module(r->shortcut(), join(prefix, "shortcut"), x);
      return node("Add", prefix, {body, shortcut});
    }
    return leaf(m, prefix, x);
  }

  int64_t first_channels = 0;  // the first Conv2d's input channels, if it comes first

 private:
  onnx::GraphProto& g_;
  bool seen_leaf_ = false;

  static std::string join(const std::string& prefix, const std::string& name) {
    return prefix.empty() ? name : prefix + "." + name;
  }

  onnx::NodeProto* last_ = nullptr;
  std::string node(const std::string& op, const std::string& prefix,
                   const std::vector<std::string>& inputs) {
    onnx::NodeProto* n = g_.add_node();
    n->set_op_type(op);
    n->set_name("/" + prefix + "/" + op);
    for (const auto& i : inputs) n->add_input(i);
    const std::string out = "/" + prefix + "/" + op + "_output_0";
    n->add_output(out);
    last_ = n;
    return out;
  }
  void ints(const std::string& name, std::vector<int64_t> values) {
    auto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t v : values) a->add_ints(v);
  }
  void integer(const std::string& name, int64_t v) {
    auto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  void real(const std::string& name, float v) {
    auto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }
  std::string initializer(const std::string& name, const Tensor& t) {
    onnx::TensorProto* p = g_.add_initializer();
    p->set_name(name);
    p->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : t.shape()) p->add_dims(d);
    p->set_raw_data(t.data(), static_cast<size_t>(t.numel()) * sizeof(float));
    return name;
  }
  std::string int_initializer(const std::string& name, const std::vector<int64_t>& v) {
    onnx::TensorProto* p = g_.add_initializer();
    p->set_name(name);
    p->set_data_type(onnx::TensorProto::INT64);
    p->add_dims(static_cast<int64_t>(v.size()));
    p->set_raw_data(v.data(), v.size() * sizeof(int64_t));
    return name;
  }

  [[noreturn]] static void refuse(const std::string& prefix, const Module& m,
                                  const std::string& why) {
    throw ValueError("layer " + prefix + " " + m.repr() + " cannot be exported to ONNX: " + why);
  }

  std::string leaf(Module& m, const std::string& prefix, const std::string& x) {
    const std::string type = m.type_name();
    std::map<std::string, Tensor*> state;
    for (const NamedTensor& t : state_dict(m)) state[t.name] = t.value;
    const bool first = !seen_leaf_;
    seen_leaf_ = true;
    if (type == "ReLU") return node("Relu", prefix, {x});
    if (type == "Identity") return node("Identity", prefix, {x});
    const LayerArgs a = layer_arguments(m.repr());
    if (type == "LeakyReLU") {
      const std::string y = node("LeakyRelu", prefix, {x});
      real("alpha", static_cast<float>(a.real("negative_slope", 0.01)));
      return y;
    }
    if (type == "Dropout") {  // a no-op in inference; kept so that the model reads back whole
      const Tensor ratio(Shape{}, static_cast<float>(a.real("p", 0.5)));
      return node("Dropout", prefix, {x, initializer(prefix + ".ratio", ratio)});
    }
    if (type == "Conv2d") {
      if (first) first_channels = a.integer("in_channels");
      const Size2 k = a.size2("kernel_size"), s = a.size2("stride", Size2(1)),
                  p = a.size2("padding", Size2(0));
      std::vector<std::string> in{x, initializer(prefix + ".weight", *state.at("weight"))};
      if (state.count("bias")) in.push_back(initializer(prefix + ".bias", *state.at("bias")));
      const std::string y = node("Conv", prefix, in);
      ints("kernel_shape", {k.h, k.w});
      ints("strides", {s.h, s.w});
      ints("pads", {p.h, p.w, p.h, p.w});
      ints("dilations", {1, 1});
      integer("group", 1);
      return y;
    }
    if (type == "BatchNorm1d" || type == "BatchNorm2d") {
      if (!state.count("running_mean"))
        refuse(prefix, m, "without running statistics it normalises by each batch's own");
      const int64_t c = a.integer("num_features");
      const Tensor ones({c}, 1.0f), zeros({c}, 0.0f);
      const std::string w = state.count("weight")
                                ? initializer(prefix + ".weight", *state.at("weight"))
                                : initializer(prefix + ".onnx_scale", ones);
      const std::string b = state.count("bias") ? initializer(prefix + ".bias", *state.at("bias"))
                                                : initializer(prefix + ".onnx_shift", zeros);
      const std::string y =
          node("BatchNormalization", prefix,
               {x, w, b, initializer(prefix + ".running_mean", *state.at("running_mean")),
                initializer(prefix + ".running_var", *state.at("running_var"))});
      real("epsilon", static_cast<float>(a.real("eps", 1e-5)));
      // ONNX's momentum weighs the old estimate (PyTorch's the new batch); None: cumulative.
      real("momentum", static_cast<float>(1.0 - a.real_or_none("momentum", 0.1).value_or(0.1)));
      return y;
    }
    if (type == "MaxPool2d" || type == "AvgPool2d") {
      const Size2 k = a.size2("kernel_size");
      const Size2 s = a.has("stride") && !a.is_none("stride") ? a.size2("stride") : k;
      const Size2 p = a.size2("padding", Size2(0));
      const bool ceil = a.boolean("ceil_mode", false);
      const std::string y = node(type == "MaxPool2d" ? "MaxPool" : "AveragePool", prefix, {x});
      ints("kernel_shape", {k.h, k.w});
      ints("strides", {s.h, s.w});
      ints("pads", {p.h, p.w, p.h, p.w});
      integer("ceil_mode", ceil);
      if (type == "MaxPool2d") {
        const Size2 d = a.size2("dilation", Size2(1));
        ints("dilations", {d.h, d.w});
      } else {
        if (a.has("divisor_override") && !a.is_none("divisor_override"))
          refuse(prefix, m, "ONNX has no divisor_override");
        integer("count_include_pad", a.boolean("count_include_pad", true));
      }
      return y;
    }
    if (type == "AdaptiveAvgPool2d") {
      const Size2 o = a.size2("output_size");
      if (o.h != 1 || o.w != 1)
        refuse(prefix, m, "ONNX has no adaptive pooling; output_size (1, 1) is GlobalAveragePool");
      return node("GlobalAveragePool", prefix, {x});
    }
    if (type == "Flatten") {
      if (a.integer("start_dim", 1) != 1 || a.integer("end_dim", -1) != -1)
        refuse(prefix, m, "only Flatten(start_dim=1, end_dim=-1) is ONNX's Flatten");
      const std::string y = node("Flatten", prefix, {x});
      integer("axis", 1);
      return y;
    }
    if (type == "Linear") {
      std::vector<std::string> in{x, initializer(prefix + ".weight", *state.at("weight"))};
      if (state.count("bias")) in.push_back(initializer(prefix + ".bias", *state.at("bias")));
      const std::string y = node("Gemm", prefix, in);
      integer("transB", 1);
      return y;
    }
    if (type == "ChannelSum") {
      const std::string y = node("ReduceSum", prefix, {x, int_initializer(prefix + ".axes", {1})});
      integer("keepdims", 1);
      return y;
    }
    refuse(prefix, m, "convlab has no ONNX form for " + type);
  }
};

void dims(onnx::ValueInfoProto* v, const std::vector<std::string>& names,
          const std::vector<int64_t>& values) {
  v->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = v->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (size_t k = 0; k < names.size(); ++k) {
    auto* d = shape->add_dim();
    if (values[k] > 0)
      d->set_dim_value(values[k]);
    else
      d->set_dim_param(names[k]);
  }
}

}  // namespace

std::string serialize_onnx(Sequential& model) {
  onnx::ModelProto m;
  m.set_ir_version(7);  // what ONNX 1.12 writes for opset 13
  m.set_producer_name("convlab");
  m.set_producer_version("0.1.0");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(kOpset);
  onnx::GraphProto& g = *m.mutable_graph();
  g.set_name("convlab");
  Exporter e(g);
  std::string out = e.module(model, "", "input");
  // The last node's output is the graph's; a model of no-ops gets an Identity.
  if (out == "input" || g.node_size() == 0) {
    auto* n = g.add_node();
    n->set_op_type("Identity");
    n->set_name("/Identity");
    n->add_input(out);
    n->add_output("logits");
  } else {
    for (auto& n : *g.mutable_node())
      if (n.output(0) == out) n.set_output(0, "logits");
  }
  dims(g.add_input(), {"batch", "channels", "height", "width"}, {0, e.first_channels, 0, 0});
  g.mutable_input(0)->set_name("input");
  dims(g.add_output(), {"batch", "scores"}, {0, 0});
  g.mutable_output(0)->set_name("logits");
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& ex) {
    throw Error(std::string("the exported ONNX model fails ONNX's checker: ") + ex.what());
  }
  std::string bytes;
  if (!m.SerializeToString(&bytes)) throw Error("the exported ONNX model does not serialise");
  return bytes;
}

void export_onnx(Sequential& model, const std::string& path) {
  write_file_atomically(path, serialize_onnx(model));
}

}  // namespace convlab::nn
