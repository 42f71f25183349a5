// safetensors: the format read and written to the letter, every malformed layout refused with a
// message naming it, and state_dicts in and out of models (fixtures from PyTorch in
// tests/fixtures/safetensors, made by tools/make_golden.py).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "convlab/io/safetensors.h"
#include "convlab/nn/models.h"
#include "convlab/nn/sequential.h"
#include "convlab/train/weights.h"
#include "fixture.h"
#include "test_util.h"

using namespace convlab;
using test::error_of;
using test::same_bits;

namespace {

std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}

// A file from a header written by hand and `data` bytes.
std::vector<uint8_t> file_with(const std::string& header, size_t data_bytes, uint8_t fill = 0) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out += header;
  out.append(data_bytes, static_cast<char>(fill));
  return bytes_of(out);
}

std::string parse_error(const std::vector<uint8_t>& bytes) {
  return error_of([&] { safetensors::File(bytes, "t.safetensors"); });
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("convlab_st_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

void write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
}

const char* kBatchNormModel =
    "Sequential(\n"
    "  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n"
    "  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
    "  (2): ReLU()\n"
    "  (3): Flatten(start_dim=1, end_dim=-1)\n"
    "  (4): Linear(in_features=64, out_features=10, bias=True)\n"
    ")\n";

}  // namespace

TEST(Safetensors, RoundTripKeepsEveryBitNameShapeAndMetadata) {
  std::mt19937 rng(3);
  const Tensor a = test::random_tensor({2, 3, 4, 5}, rng), b = test::random_tensor({7}, rng);
  const Tensor count(Shape{}, 12345.0f), empty(Shape{0, 3});
  const std::string text = safetensors::serialize(
      {{"a.weight", &a}, {"b", &b}, {"n", &count, true}, {"e", &empty}}, {{"format", "pt"}});
  uint64_t n = 0;
  std::memcpy(&n, text.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u) << "the data starts 8-byte aligned";
  const safetensors::File f(bytes_of(text), "rt");
  ASSERT_EQ(f.entries().size(), 4u);
  EXPECT_TRUE(same_bits(f.floats(*f.find("a.weight")), a));
  EXPECT_TRUE(same_bits(f.floats(*f.find("b")), b));
  EXPECT_EQ(f.floats(*f.find("e")).shape(), (Shape{0, 3}));
  EXPECT_EQ(f.find("n")->dtype, "I64");
  EXPECT_EQ(f.find("n")->shape, std::vector<int64_t>{});
  EXPECT_EQ(f.integer_scalar(*f.find("n")), 12345);
  EXPECT_EQ(f.metadata().at("format"), "pt");
  EXPECT_EQ(f.find("missing"), nullptr);
}

TEST(Safetensors, ConvertsHalfBFloatAndDouble) {
  // F16: 1.0, -2.0, 65504 (largest), 2^-24 (smallest subnormal), -0, inf.
  const uint16_t f16[] = {0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00};
  // BF16: 1.0, -3.0 (the top halves of the floats).
  const uint16_t bf16[] = {0x3f80, 0xc040};
  const double f64[] = {0.1, -1e30};
  std::string data(reinterpret_cast<const char*>(f16), sizeof f16);
  data.append(reinterpret_cast<const char*>(bf16), sizeof bf16);
  data.append(reinterpret_cast<const char*>(f64), sizeof f64);
  const std::string header = R"({"h":{"dtype":"F16","shape":[6],"data_offsets":[0,12]},)"
                             R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},)"
                             R"("d":{"dtype":"F64","shape":[2],"data_offsets":[16,32]}})";
  auto bytes = file_with(header, 0);
  bytes.insert(bytes.end(), data.begin(), data.end());
  const safetensors::File f(bytes, "conv");
  const Tensor h = f.floats(*f.find("h"));
  EXPECT_EQ(h.data()[0], 1.0f);
  EXPECT_EQ(h.data()[1], -2.0f);
  EXPECT_EQ(h.data()[2], 65504.0f);
  EXPECT_EQ(h.data()[3], std::ldexp(1.0f, -24));
  EXPECT_TRUE(h.data()[4] == 0.0f && std::signbit(h.data()[4]));
  EXPECT_TRUE(std::isinf(h.data()[5]));
  const Tensor b = f.floats(*f.find("b"));
  EXPECT_EQ(b.data()[0], 1.0f);
  EXPECT_EQ(b.data()[1], -3.0f);
  const Tensor d = f.floats(*f.find("d"));
  EXPECT_EQ(d.data()[0], 0.1f);
  EXPECT_EQ(d.data()[1], -1e30f);
}

TEST(Safetensors, EveryMalformedLayoutIsOneErrorNamingIt) {
  const auto contains = [](const std::string& msg, const std::string& part) {
    return msg.find(part) != std::string::npos;
  };
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  EXPECT_EQ(parse_error(file_with(ok, 8)), "no error");
  EXPECT_TRUE(contains(parse_error(bytes_of("abc")), "fewer than the 8"));
  // Header length past the file, and over 100 MB (with a small file: nothing is allocated).
  auto longer = file_with(ok, 8);
  longer[0] = 0xff;
  EXPECT_TRUE(contains(parse_error(longer), "longer than the"));
  auto huge = file_with(ok, 8);
  const uint64_t big = 200'000'000;
  std::memcpy(huge.data(), &big, 8);
  EXPECT_TRUE(contains(parse_error(huge), "over the 100 MB limit"));
  EXPECT_TRUE(contains(parse_error(file_with("[1,2]", 0)), "does not start with '{'"));
  EXPECT_TRUE(contains(parse_error(file_with("{\"a\":", 0)), "not valid JSON"));
  EXPECT_TRUE(
      contains(parse_error(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                     R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                     8)),
               "names 'a' twice"));
  // Data shorter than the offsets, a hole, an overlap, bytes left over.
  EXPECT_TRUE(contains(parse_error(file_with(ok, 4)), "not a range inside the 4 bytes"));
  EXPECT_TRUE(
      contains(parse_error(file_with(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                                     12)),
               "a hole of 4 bytes"));
  EXPECT_TRUE(
      contains(parse_error(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                     R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                                     8)),
               "overlap"));
  EXPECT_TRUE(contains(parse_error(file_with(ok, 12)), "4 bytes of data after the last tensor"));
  // Sizes that do not agree, absurd shapes, wrong types, unknown dtypes and fields.
  EXPECT_TRUE(contains(
      parse_error(file_with(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
      "needs 12 bytes but data_offsets give 8"));
  EXPECT_TRUE(contains(
      parse_error(file_with(
          R"({"a":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,8]}})",
          8)),
      "more elements than can be counted"));
  EXPECT_TRUE(contains(
      parse_error(file_with(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
      "not an extent"));
  EXPECT_TRUE(contains(
      parse_error(file_with(R"({"a":{"dtype":"Q8","shape":[2],"data_offsets":[0,8]}})", 8)),
      "unknown dtype 'Q8'"));
  EXPECT_TRUE(contains(
      parse_error(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8)),
      "unknown field 'x'"));
  EXPECT_TRUE(contains(parse_error(file_with(R"({"a":{"dtype":"F32","shape":[2]}})", 8)),
                       "no data_offsets"));
  EXPECT_TRUE(contains(
      parse_error(file_with(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)),
      "not a range"));
  EXPECT_TRUE(contains(parse_error(file_with(R"({"__metadata__":{"k":1}})", 0)), "not a string"));
  // Integers where floats belong, and floats where an integer belongs.
  const safetensors::File ints(
      file_with(R"({"i":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8), "ints");
  EXPECT_TRUE(contains(error_of([&] { ints.floats(*ints.find("i")); }), "where floats belong"));
  EXPECT_TRUE(
      contains(error_of([&] { ints.integer_scalar(*ints.find("i")); }), "expected one element"));
  const safetensors::File floats(file_with(ok, 8), "floats");
  EXPECT_TRUE(contains(error_of([&] { floats.integer_scalar(*floats.find("a")); }),
                       "where an integer belongs"));
  // Rank above a Tensor's four.
  const safetensors::File rank5(
      file_with(R"({"a":{"dtype":"F32","shape":[1,1,1,1,2],"data_offsets":[0,8]}})", 8), "r5");
  EXPECT_TRUE(contains(error_of([&] { rank5.floats(*rank5.find("a")); }), "at most 4"));
}

TEST(SafetensorsWeights, ExportThenImportIsBitIdenticalAndChecksKeysBothWays) {
  Generator gen(4);
  auto model = nn::parse_model(kBatchNormModel, "bn.txt", gen);
  // Give the buffers values of their own, so that a buffer not restored shows.
  for (const auto& t : nn::state_dict(*model))
    if (!t.is_parameter) t.value->fill_(t.integer ? 7.0f : 0.5f);
  const std::string path = temp_path("bn.safetensors");
  train::save_weights(*model, path, model->repr());
  Generator other(99);
  auto copy = nn::parse_model(kBatchNormModel, "bn.txt", other);
  train::load_weights(*copy, path);
  const auto a = nn::state_dict(*model), b = nn::state_dict(*copy);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(same_bits(*a[i].value, *b[i].value)) << a[i].name;
  EXPECT_EQ(safetensors::load(path).find("1.num_batches_tracked")->dtype, "I64");

  // Another model: missing, unexpected and mismatched keys all named; the model untouched.
  const std::string other_text =
      "Sequential(\n"
      "  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
      "  (1): ReLU()\n"
      "  (2): Flatten(start_dim=1, end_dim=-1)\n"
      "  (3): Linear(in_features=64, out_features=5, bias=True)\n"
      ")\n";
  auto wrong = nn::parse_model(other_text, "other.txt", other);
  const Tensor before = *nn::state_dict(*wrong)[0].value;
  const std::string msg = error_of([&] { train::load_weights(*wrong, path); });
  EXPECT_NE(msg.find("missing key(s): 0.bias, 3.weight, 3.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected key(s): 1.bias, 1.num_batches_tracked"), std::string::npos) << msg;
  EXPECT_TRUE(same_bits(*nn::state_dict(*wrong)[0].value, before));
  std::filesystem::remove(path);
}

TEST(SafetensorsWeights, PicklesAreRefusedWithTheSafeFormatsNamed) {
  Generator gen(1);
  auto model = nn::parse_model(kBatchNormModel, "bn.txt", gen);
  for (const auto& [name, head] : std::vector<std::pair<std::string, std::vector<uint8_t>>>{
           {"model.safetensors", {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}},
           {"model.bin", {0x80, 0x02, ']', 'q', 0, 0, 0, 0, 0, 0}},
           {"model.pt", {'{', '}'}}}) {
    const std::string path = temp_path(name);
    write(path, head);
    const std::string msg = error_of([&] { train::load_weights(*model, path); });
    EXPECT_NE(msg.find("PyTorch pickle"), std::string::npos) << msg;
    EXPECT_NE(msg.find("safetensors.torch.save_file"), std::string::npos) << msg;
    std::filesystem::remove(path);
  }
}

// State_dicts PyTorch wrote (tools/make_golden.py: F16, BF16, F32, F64; BatchNorm buffers, a
// num_batches_tracked of 1234, Dropout, Residual) give PyTorch's eval-mode logits within 1e-5.
TEST(SafetensorsWeights, PyTorchStateDictsGivePyTorchsLogits) {
  const auto fixture = test::load_fixture("weights.json");
  ASSERT_GE(fixture.at("cases").size(), 5u);
  for (const auto& c : fixture.at("cases")) {
    const std::string name = c.at("name");
    Generator gen(0);
    auto model = nn::parse_model(c.at("model_text").get<std::string>(), name, gen);
    train::load_weights(*model,
                        std::string(CONVLAB_FIXTURES) + "/" + c.at("file").get<std::string>());
    model->eval();
    const Tensor x = test::tensor_from(c.at("input"));
    const Tensor expected = test::tensor_from(c.at("logits"));
    const Tensor& y = model->forward(x);
    EXPECT_TRUE(allclose(y, expected, 1e-5, 1e-5))
        << name << ": max difference " << max_abs_diff(y, expected);
    for (const auto& t : nn::state_dict(*model))
      if (t.integer) {
        EXPECT_EQ(*t.value->data(), 1234.0f) << name << " " << t.name;
      }
  }
}
