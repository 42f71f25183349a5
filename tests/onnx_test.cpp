// ONNX import: models torch.onnx.export wrote (tools/make_golden.py: opsets 11 to 17, BatchNorm
// folded and as nodes, Residual, ChannelSum, view-flatten) give PyTorch's logits; malformed and
// unsupported graphs are one error naming the node.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <random>

#include "convlab/nn/models.h"
#include "convlab/nn/onnx.h"
#include "convlab/nn/sequential.h"
#include "fixture.h"
#include "test_util.h"

using namespace convlab;
using test::error_of;

namespace {

std::vector<uint8_t> fixture_bytes(const std::string& rel) {
  std::ifstream in(std::string(CONVLAB_FIXTURES) + "/" + rel, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST(OnnxImport, PyTorchExportsGivePyTorchsLogits) {
  const auto fixture = test::load_fixture("onnx.json");
  ASSERT_GE(fixture.at("cases").size(), 7u);
  for (const auto& c : fixture.at("cases")) {
    const std::string name = c.at("name");
    auto model =
        nn::import_onnx(std::string(CONVLAB_FIXTURES) + "/" + c.at("file").get<std::string>());
    model->eval();
    const Tensor x = test::tensor_from(c.at("input")), expected = test::tensor_from(c.at("logits"));
    const Tensor& y = model->forward(x);
    EXPECT_TRUE(allclose(y, expected, 1e-5, 1e-5))
        << name << ": max difference " << max_abs_diff(y, expected) << "\n"
        << model->repr();
  }
}

TEST(OnnxImport, BatchNormNodesBecomeBatchNormLayersAndAddsBecomeResiduals) {
  auto bn = nn::import_onnx(std::string(CONVLAB_FIXTURES) + "/onnx/batchnorm_nodes.onnx");
  EXPECT_NE(bn->repr().find("BatchNorm2d(8, eps=1e-05, momentum=0.1"), std::string::npos)
      << bn->repr();
  auto folded = nn::import_onnx(std::string(CONVLAB_FIXTURES) + "/onnx/batchnorm_folded.onnx");
  EXPECT_EQ(folded->repr().find("BatchNorm"), std::string::npos) << folded->repr();
  auto res = nn::import_onnx(std::string(CONVLAB_FIXTURES) + "/onnx/residual.onnx");
  EXPECT_NE(res->repr().find("(shortcut): Identity()"), std::string::npos) << res->repr();
  EXPECT_NE(res->repr().find("(shortcut): Sequential("), std::string::npos) << res->repr();
}

TEST(OnnxImport, MalformedFilesAreOneErrorEach) {
  const auto contains = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  EXPECT_TRUE(contains(error_of([] {
                         nn::parse_onnx({1, 2, 3, 250, 251}, "g.onnx");
                       }),
                       "not an ONNX model"));
  EXPECT_TRUE(contains(error_of([] {
                         nn::parse_onnx({'P', 'K', 3, 4, 9, 9}, "g.onnx");
                       }),
                       "pickle"));
  auto bytes = fixture_bytes("onnx/residual.onnx");
  ASSERT_GT(bytes.size(), 100u);
  for (size_t cut : {bytes.size() / 2, bytes.size() - 7, size_t{10}}) {
    const std::vector<uint8_t> head(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    EXPECT_NE(error_of([&] { nn::parse_onnx(head, "cut.onnx"); }), "no error") << cut;
  }
}

namespace {

// residual.onnx edited by `edit`, then imported: the error message (or "no error").
std::string import_edited(const std::function<void(onnx::ModelProto&)>& edit) {
  const auto bytes = fixture_bytes("onnx/residual.onnx");
  onnx::ModelProto m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return "fixture unreadable";
  edit(m);
  std::string out;
  m.SerializeToString(&out);
  return error_of([&] { nn::parse_onnx({out.begin(), out.end()}, "edited.onnx"); });
}

onnx::NodeProto* first_node(onnx::ModelProto& m, const std::string& op) {
  for (auto& n : *m.mutable_graph()->mutable_node())
    if (n.op_type() == op) return &n;
  return nullptr;
}

}  // namespace

TEST(OnnxImport, UnsupportedOpsAndMisfitWeightsAreNamed) {
  const auto has = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  EXPECT_EQ(import_edited([](onnx::ModelProto&) {}), "no error");
  // An op convlab does not have: named, with its node and the supported list.
  const std::string sigmoid =
      import_edited([](onnx::ModelProto& m) { first_node(m, "Relu")->set_op_type("Sigmoid"); });
  EXPECT_TRUE(has(sigmoid, "(Sigmoid): is not supported (supported: Conv, Relu")) << sigmoid;
  // A weight whose shape does not fit its layer, and one whose dims outgrow its data.
  const std::string misfit = import_edited([](onnx::ModelProto& m) {
    for (auto& t : *m.mutable_graph()->mutable_initializer())
      if (t.dims_size() == 1) {
        t.set_dims(0, t.dims(0) + 1);
        break;
      }
  });
  EXPECT_TRUE(has(misfit, "holds") || has(misfit, "shape")) << misfit;
  const std::string absurd = import_edited([](onnx::ModelProto& m) {
    auto& t = *m.mutable_graph()->mutable_initializer(0);
    for (int k = 0; k < t.dims_size(); ++k) t.set_dims(k, int64_t{1} << 20);
  });
  // (2^80 elements: ONNX's checker sees the count wrap to 0 and refuses it first.)
  EXPECT_TRUE(has(absurd, "bytes of data; its shape needs") || has(absurd, "impossible shape") ||
              has(absurd, "checker refuses"))
      << absurd;
  const std::string short_data = import_edited([](onnx::ModelProto& m) {
    auto& t = *m.mutable_graph()->mutable_initializer(0);
    t.set_dims(0, t.dims(0) * 2);
  });
  EXPECT_TRUE(has(short_data, "bytes of data; its shape needs")) << short_data;
  // A shape of 2^40 floats backed by a few hundred bytes (found by fuzz_onnx as 528,350,192 x 1,
  // which allocated 2 GB before the check): refused before anything is allocated.
  const std::string unbacked = import_edited([](onnx::ModelProto& m) {
    auto& t = *m.mutable_graph()->mutable_initializer(0);
    t.clear_dims();
    t.add_dims(int64_t{1} << 40);
    t.add_dims(1);
  });
  EXPECT_TRUE(has(unbacked, "its shape needs 4398046511104")) << unbacked;
  // Asymmetric padding, a grouped convolution, data kept in an external file.
  const std::string pads = import_edited([](onnx::ModelProto& m) {
    for (auto& a : *first_node(m, "Conv")->mutable_attribute())
      if (a.name() == "pads") a.set_ints(0, 0);
  });
  EXPECT_TRUE(has(pads, "asymmetrically")) << pads;
  const std::string external = import_edited([](onnx::ModelProto& m) {
    auto& t = *m.mutable_graph()->mutable_initializer(0);
    t.set_data_location(onnx::TensorProto::EXTERNAL);
    auto* e = t.add_external_data();
    e->set_key("location");
    e->set_value("weights.bin");
  });
  EXPECT_TRUE(has(external, "external") || has(external, "checker")) << external;
  // A graph that is not a chain: the input feeding a third consumer.
  const std::string fork = import_edited([](onnx::ModelProto& m) {
    auto* n = m.mutable_graph()->add_node();
    n->set_op_type("Relu");
    n->set_name("extra");
    n->add_input(m.graph().input(0).name());
    n->add_output("extra_out");
  });
  EXPECT_TRUE(has(fork, "feeds 3 nodes") || has(fork, "branch")) << fork;
}

// Export then import: the same layers under the same names, every parameter and buffer bit for
// bit, and the same logits bit for bit, for every model file and every layer the exporter has.
TEST(OnnxExport, ImportOfTheExportIsBitIdentical) {
  std::vector<std::string> texts;
  for (const char* name : {"notebook", "resnet20", "vgg_bn"}) {
    std::ifstream in(std::string(CONVLAB_SOURCE_DIR) + "/models/" + name + ".txt");
    texts.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  texts.push_back(
      "Sequential(\n"
      "  (0): ChannelSum()\n"
      "  (1): Conv2d(1, 4, kernel_size=(3, 3), stride=(2, 1), padding=(1, 0))\n"
      "  (2): BatchNorm2d(4, eps=0.001, momentum=0.3, affine=True, track_running_stats=True)\n"
      "  (3): LeakyReLU(negative_slope=0.2)\n"
      "  (4): MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=True)\n"
      "  (5): AvgPool2d(kernel_size=2, stride=1, padding=1, ceil_mode=True, "
      "count_include_pad=False)\n"
      "  (6): Identity()\n"
      "  (7): AdaptiveAvgPool2d(output_size=(1, 1))\n"
      "  (8): Flatten(start_dim=1, end_dim=-1)\n"
      "  (9): Dropout(p=0.25, inplace=False)\n"
      "  (10): Linear(in_features=4, out_features=6, bias=False)\n"
      "  (11): BatchNorm1d(6, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
      "  (12): Linear(in_features=6, out_features=10, bias=True)\n"
      ")\n");
  std::mt19937 rng(8);
  for (const std::string& text : texts) {
    Generator gen(3);
    auto model = nn::parse_model(text, "m.txt", gen);
    for (const auto& t : nn::state_dict(*model))  // running statistics of their own
      if (!t.is_parameter && !t.integer) *t.value = test::random_tensor(t.value->shape(), rng);
    for (const auto& t : nn::state_dict(*model))
      if (t.name.find("running_var") != std::string::npos)
        for (int64_t i = 0; i < t.value->numel(); ++i)
          t.value->data()[i] = std::fabs(t.value->data()[i]) + 0.5f;
    model->eval();
    const std::string bytes = nn::serialize_onnx(*model);
    auto back = nn::parse_onnx({bytes.begin(), bytes.end()}, "export.onnx");
    back->eval();
    const auto a = nn::state_dict(*model), b = nn::state_dict(*back);
    ASSERT_EQ(a.size(), b.size()) << back->repr();
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].name, b[i].name);
      if (!a[i].integer) {
        EXPECT_TRUE(test::same_bits(*a[i].value, *b[i].value)) << a[i].name;
      }
    }
    const Tensor x = test::random_tensor({2, 3, 32, 32}, rng);
    const Tensor y = model->forward(x);
    EXPECT_TRUE(test::same_bits(back->forward(x), y)) << text.substr(0, 60);
  }
}

TEST(OnnxExport, LayersOnnxCannotExpressAreRefusedByName) {
  Generator gen(1);
  auto adaptive = nn::parse_model(
      "Sequential(\n  (0): AdaptiveAvgPool2d(output_size=(2, 2))\n  (1): Flatten(start_dim=1, "
      "end_dim=-1)\n)\n",
      "a.txt", gen);
  const std::string msg = error_of([&] { nn::serialize_onnx(*adaptive); });
  EXPECT_NE(msg.find("layer 0 AdaptiveAvgPool2d(output_size=(2, 2)) cannot be exported to ONNX"),
            std::string::npos)
      << msg;
}

namespace {

// Residual blocks nested `depth` deep: at each level, x -> Relu -> (the next level) -> Add(., x).
std::vector<uint8_t> nested_residuals(int depth) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("nested");
  auto* in = g->add_input();
  in->set_name("v0");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {2, 3, 4, 4})
    in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  auto node = [&](const std::string& type, std::vector<std::string> inputs,
                  const std::string& out) {
    auto* n = g->add_node();
    n->set_op_type(type);
    n->set_name(out);
    for (const auto& i : inputs) n->add_input(i);
    n->add_output(out);
  };
  for (int d = 0; d < depth; ++d)
    node("Relu", {"v" + std::to_string(d)}, "v" + std::to_string(d + 1));
  std::string inner = "v" + std::to_string(depth);
  for (int d = depth - 1; d >= 0; --d) {
    const std::string out = "w" + std::to_string(d);
    node("Add", {inner, "v" + std::to_string(d)}, out);
    inner = out;
  }
  auto* out = g->add_output();
  out->set_name(inner);
  out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : {2, 3, 4, 4})
    out->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  std::string bytes;
  m.SerializeToString(&bytes);
  return {bytes.begin(), bytes.end()};
}

}  // namespace

TEST(OnnxImport, NestedResidualsAreReadToADepthAndRefusedPastIt) {
  auto model = nn::parse_onnx(nested_residuals(3), "nested.onnx");
  EXPECT_NE(model->repr().find("(body): Sequential(\n      (0): ReLU()\n      (1): Residual("),
            std::string::npos)
      << model->repr();
  const std::string msg = error_of([] { nn::parse_onnx(nested_residuals(200), "deep.onnx"); });
  EXPECT_NE(msg.find("nest deeper than 64"), std::string::npos) << msg;
}
