// ONNX import: models torch.onnx.export wrote (tools/make_golden.py: opsets 11 to 17, BatchNorm
// folded and as nodes, Residual, ChannelSum, view-flatten) give PyTorch's logits; malformed and
// unsupported graphs are one error naming the node.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>

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
