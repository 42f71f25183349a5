#include <gtest/gtest.h>

#include "test_util.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include "convlab/data/dataset.h"
#include "convlab/error.h"
#include "convlab/nn/models.h"
#include "convlab/train/trainer.h"

using namespace convlab;
using test::error_of;
namespace fs = std::filesystem;

namespace {

// A small slice of the shipped CIFAR-10 subset keeps these tests fast.
data::Dataset slice(const data::Dataset& full, int64_t n) {
  data::Dataset d = full;
  d.labels.resize(static_cast<size_t>(n));
  d.images.resize(static_cast<size_t>(n * full.image_bytes()));
  return d;
}

const data::Dataset& small_train() {
  static const data::Dataset d = slice(
      data::load_cifar10(std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin", true),
      300);
  return d;
}
const data::Dataset& small_test() {
  static const data::Dataset d = slice(
      data::load_cifar10(std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin", false),
      100);
  return d;
}

std::string temp_dir(const std::string& tag) {
  const auto p =
      fs::temp_directory_path() / ("convlab_train_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

void expect_identical(const train::Checkpoint& a, const train::Checkpoint& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    const Tensor& u = b.tensors.at(name);
    ASSERT_EQ(t.shape(), u.shape()) << name;
    ASSERT_EQ(std::memcmp(t.data(), u.data(), static_cast<size_t>(t.numel()) * sizeof(float)), 0)
        << name;
  }
}

}  // namespace

TEST(Train, SameSeedIsBitIdenticalAndLossFalls) {
  train::Recipe r;
  r.epochs = 3;
  r.batch_size = 32;
  train::Trainer a(r, small_train(), small_test()), b(r, small_train(), small_test());
  a.fit("");
  b.fit("");
  for (size_t e = 0; e < 3; ++e) {
    EXPECT_EQ(a.history()[e].loss, b.history()[e].loss);
    EXPECT_EQ(a.history()[e].test_accuracy, b.history()[e].test_accuracy);
  }
  expect_identical(a.checkpoint(), b.checkpoint());
  EXPECT_LT(a.history()[2].loss, a.history()[0].loss);
  r.seed = 1;
  train::Trainer c(r, small_train(), small_test());
  c.fit("");
  EXPECT_NE(c.history()[0].loss, a.history()[0].loss);
}

TEST(Train, ResumeFromEpochKIsBitIdenticalToUninterrupted) {
  for (const std::string optimizer : {"adam", "sgd"}) {
    train::Recipe r;
    r.model = "sumfirst";
    r.epochs = 3;
    r.batch_size = 32;
    r.optimizer = optimizer;
    r.momentum = optimizer == "sgd" ? 0.9 : 0.0;
    r.lr = optimizer == "sgd" ? 0.01 : 1e-3;
    train::Trainer whole(r, small_train(), small_test());
    whole.fit("");

    const std::string dir = temp_dir("resume_" + optimizer);
    r.epochs = 1;
    train::Trainer first(r, small_train(), small_test());
    first.fit(dir);
    auto resumed = train::Trainer::resume(dir + "/checkpoint.bin", small_train(), small_test(), 3);
    EXPECT_EQ(resumed->history().size(), 1u);
    resumed->fit(dir);
    expect_identical(whole.checkpoint(), resumed->checkpoint());
    EXPECT_EQ(whole.history().back().loss, resumed->history().back().loss) << optimizer;
    // What was written matches what is in memory.
    expect_identical(train::load_checkpoint(dir + "/checkpoint.bin"), resumed->checkpoint());
    std::ifstream metrics(dir + "/metrics.json");
    const auto j = nlohmann::json::parse(metrics);
    EXPECT_EQ(j["epochs"].size(), 3u);
    fs::remove_all(dir);
  }
}

TEST(Train, NonFiniteLossStopsAndNamesTheStep) {
  train::Recipe r;
  r.epochs = 2;
  r.batch_size = 32;
  r.optimizer = "sgd";
  r.lr = 1e12;  // diverges within a few steps
  train::Trainer t(r, small_train(), small_test());
  const std::string msg = error_of([&] { t.fit(""); });
  EXPECT_NE(msg.find("loss became"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at epoch 1, batch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(step "), std::string::npos) << msg;
}

TEST(Checkpoint, TruncatedOrCorruptFilesAreRejected) {
  train::Recipe r;
  r.epochs = 1;
  r.batch_size = 64;
  const std::string dir = temp_dir("ckpt");
  train::Trainer t(r, small_train(), small_test());
  t.fit(dir);
  const std::string path = dir + "/checkpoint.bin";
  const auto size = fs::file_size(path);
  std::vector<char> bytes(size);
  std::ifstream(path, std::ios::binary).read(bytes.data(), static_cast<std::streamsize>(size));

  auto write = [&](const std::string& p, const std::vector<char>& b) {
    std::ofstream(p, std::ios::binary).write(b.data(), static_cast<std::streamsize>(b.size()));
  };
  std::vector<char> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size / 2));
  write(dir + "/cut.bin", cut);
  EXPECT_NE(
      error_of([&] { train::load_checkpoint(dir + "/cut.bin"); }).find("corrupt or truncated"),
      std::string::npos);
  std::vector<char> flipped = bytes;
  flipped[size / 3] ^= 0x10;
  write(dir + "/flip.bin", flipped);
  EXPECT_NE(error_of([&] { train::load_checkpoint(dir + "/flip.bin"); }).find("checksum"),
            std::string::npos);
  write(dir + "/junk.bin", std::vector<char>(100, 'x'));
  EXPECT_NE(
      error_of([&] { train::load_checkpoint(dir + "/junk.bin"); }).find("not a convlab checkpoint"),
      std::string::npos);
  EXPECT_NE(error_of([&] { train::load_checkpoint(dir + "/missing.bin"); }).find("cannot open"),
            std::string::npos);
  fs::remove_all(dir);
}

TEST(ModelFile, AcceptsPyTorchPrintOfTheStandardModel) {
  // The text PyTorch 1.13 prints for the notebook's nn.Sequential.
  const std::string text = R"(Sequential(
  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): ReLU()
  (2): Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (3): ReLU()
  (4): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (5): Flatten(start_dim=1, end_dim=-1)
  (6): Linear(in_features=4096, out_features=64, bias=True)
  (7): ReLU()
  (8): Linear(in_features=64, out_features=10, bias=True)
))";
  Generator g1(0), g2(0);
  auto parsed = nn::parse_model(text, "model.txt", g1);
  auto built = nn::make_standard(g2);
  EXPECT_EQ(parsed->repr(), text);
  EXPECT_EQ(built->repr(), text);
  const auto pa = parsed->parameters(), pb = built->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(max_abs_diff(pa[i]->value, pb[i]->value), 0.0);
  nn::check_model(*parsed, {1, 3, 32, 32}, 10);
}

TEST(ModelFile, ConstructorSyntaxAndComments) {
  Generator g(0);
  auto m = nn::parse_model(
      "# a small net\nnn.Conv2d(1, 4, kernel_size=5, stride=2)\nnn.ReLU()\n\nnn.MaxPool2d(2)  # "
      "halves\n"
      "nn.Flatten()\nnn.Linear(144, 10)\n",  // 28 -> conv k5 s2: 12 -> pool: 6; 4*6*6
      "tiny.txt", g);
  EXPECT_EQ(m->size(), 5u);
  EXPECT_EQ(m->output_shape({2, 1, 28, 28}), (Shape{2, 10}));
}

TEST(ModelFile, ErrorsNameTheLine) {
  Generator g(0);
  auto msg = error_of([&] { nn::parse_model("ReLU()\nConv3d(1, 2, 3)\n", "m.txt", g); });
  EXPECT_NE(
      msg.find(
          "m.txt:2:1: unknown layer 'Conv3d' (known: AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d,"),
      std::string::npos)
      << msg;
  // An unknown layer is named before its arguments are read (Dropout(0.5) is not "expected ')'").
  msg = error_of([&] { nn::parse_model("  Frobnicate(0.5, mode='x')\n", "m.txt", g); });
  EXPECT_NE(msg.find("m.txt:1:3: unknown layer 'Frobnicate'"), std::string::npos) << msg;
  // A byte order mark is not text; escape codes and long lines are shown escaped and cut short.
  EXPECT_NO_THROW(nn::parse_model("\xEF\xBB\xBFReLU()\n", "m.txt", g));
  msg = error_of(
      [&] { nn::parse_model("Linear(4, \x1b[31m" + std::string(5000, '9') + ")\n", "m.txt", g); });
  EXPECT_EQ(msg.find('\x1b'), std::string::npos) << msg;
  EXPECT_LT(msg.size(), 300u) << msg;
  msg = error_of([&] { nn::parse_model("Conv2d(1, 2)\n", "m.txt", g); });
  EXPECT_NE(msg.find("m.txt:1:13: Conv2d needs 'kernel_size'"), std::string::npos) << msg;
  msg = error_of([&] { nn::parse_model("Linear(4, 2, colour=True)\n", "m.txt", g); });
  EXPECT_NE(msg.find("m.txt:1:26: Linear has no argument 'colour'"), std::string::npos) << msg;
  msg = error_of([&] { nn::parse_model("Linear(4, 2\n", "m.txt", g); });
  EXPECT_NE(msg.find("m.txt:1:12: expected ')'"), std::string::npos) << msg;
  msg = error_of([&] { nn::parse_model("Sequential(\n  (0): ReLU()\n", "m.txt", g); });
  EXPECT_NE(msg.find("never closed"), std::string::npos) << msg;
  // Sizes that do not chain: the message names the file line of the layer that does not fit.
  auto m = nn::parse_model("Conv2d(3, 8, 3, padding=1)\nReLU()\nFlatten()\nLinear(1000, 10)\n",
                           "m.txt", g);
  msg = error_of([&] { nn::check_model(*m, {1, 3, 32, 32}, 10); });
  EXPECT_NE(msg.find("m.txt:4 layer 3 Linear(in_features=1000"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[1, 8192]"), std::string::npos) << msg;
  m = nn::parse_model("Conv2d(1, 8, 3)\n", "m.txt", g);
  msg = error_of([&] { nn::check_model(*m, {1, 3, 32, 32}, 10); });
  EXPECT_NE(msg.find("m.txt:1 layer 0 Conv2d(1, 8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected input with 1 channels"), std::string::npos) << msg;
}
