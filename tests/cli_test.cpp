// The command-line tool end to end: exit codes, one-line errors, files written.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace {

struct CliRun {
  int code;
  std::string out;  // stdout and stderr together
};

CliRun run_cli(const std::string& args) {
  const std::string cmd = std::string(CONVLAB_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

size_t lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

TEST(Cli, DemoWritesPictures) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("convlab_cli_" + std::to_string(::getpid()));
  const CliRun r = run_cli("demo multichannel --out " + dir.string());
  ASSERT_EQ(r.code, 0) << r.out;
  size_t pngs = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(e.path().extension(), ".png");
    EXPECT_GT(e.file_size(), 1000u);
    ++pngs;
  }
  EXPECT_EQ(pngs, 17u);
  std::filesystem::remove_all(dir);
}

TEST(Cli, BadInputIsOneLineAndNonZeroExit) {
  for (const std::string args : {"demo multichannel --out /dev/null/pictures",
                                 "demo multichannel --bogus", "nosuchcommand", "demo"}) {
    const CliRun r = run_cli(args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_EQ(lines(r.out), 1u) << args << ":\n" << r.out;
    EXPECT_EQ(r.out.rfind("convlab: error: ", 0), 0u) << r.out;
  }
}

namespace {

namespace fs = std::filesystem;

// A small CIFAR-10 directory (the first records of the shipped files) so CLI runs are quick.
std::string small_cifar_dir() {
  static const std::string dir = [] {
    const fs::path d =
        fs::temp_directory_path() / ("convlab_cli_cifar_" + std::to_string(::getpid()));
    fs::create_directories(d);
    const std::string src = std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin/";
    auto copy_head = [&](const std::string& name, size_t records) {
      std::ifstream in(src + name, std::ios::binary);
      std::vector<char> buf(records * 3073);
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      std::ofstream(d / name, std::ios::binary)
          .write(buf.data(), static_cast<std::streamsize>(buf.size()));
    };
    copy_head("data_batch_1.bin", 192);
    copy_head("test_batch.bin", 64);
    fs::copy_file(src + "batches.meta.txt", d / "batches.meta.txt",
                  fs::copy_options::overwrite_existing);
    return d.string();
  }();
  return dir;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(Cli, TrainEvaluateResumeEndToEnd) {
  const std::string out =
      (fs::temp_directory_path() / ("convlab_cli_run_" + std::to_string(::getpid()))).string();
  fs::remove_all(out);
  const std::string data = " --data " + small_cifar_dir();
  CliRun r = run_cli("train --epochs 1 --batch-size 32 --out " + out + data);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("epoch 1/1  loss"), std::string::npos) << r.out;
  r = run_cli("train --epochs 2 --resume " + out + "/checkpoint.bin --out " + out + data);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("resuming"), std::string::npos);
  EXPECT_NE(r.out.find("epoch 2/2"), std::string::npos) << r.out;
  r = run_cli("evaluate --json --checkpoint " + out + "/checkpoint.bin" + data);
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["total"], 64);
  EXPECT_EQ(j["confusion_matrix"].size(), 10u);
  r = run_cli("evaluate --checkpoint " + out + "/checkpoint.bin" + data);
  EXPECT_NE(r.out.find("confusion matrix"), std::string::npos);

  // A failing run destroys nothing already written.
  const std::string before_ckpt = slurp(out + "/checkpoint.bin"),
                    before_metrics = slurp(out + "/metrics.json");
  for (const std::string& bad : {"train --data /nonexistent/convlab --out " + out,
                                 "train --model /nonexistent/model.txt --out " + out + data,
                                 "train --optimizer sgd --lr 1e12 --epochs 1 --out " + out + data,
                                 "train --resume " + out + "/metrics.json --out " + out + data}) {
    r = run_cli(bad);
    EXPECT_NE(r.code, 0) << bad;
    // Exactly one error line, and it is the last thing printed.
    const size_t at = r.out.find("convlab: error: ");
    ASSERT_NE(at, std::string::npos) << bad << "\n" << r.out;
    EXPECT_EQ(r.out.find("convlab: error: ", at + 1), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('\n', at), r.out.size() - 1) << r.out;
  }
  EXPECT_EQ(slurp(out + "/checkpoint.bin"), before_ckpt);
  EXPECT_EQ(slurp(out + "/metrics.json"), before_metrics);
  fs::remove_all(out);
}

TEST(Cli, TrainingFlagsAreChecked) {
  for (const std::string args : {"train --epochs -1", "train --batch-size 0", "train --lr -0.1",
                                 "train --optimizer rmsprop", "compare --seeds 0", "evaluate"}) {
    const CliRun r = run_cli(args + " --data " + small_cifar_dir());
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_EQ(lines(r.out), 1u) << args << "\n" << r.out;
  }
}

TEST(Cli, CompareWritesPlotsMetricsAndSummary) {
  const std::string out =
      (fs::temp_directory_path() / ("convlab_cli_cmp_" + std::to_string(::getpid()))).string();
  const CliRun r =
      run_cli("compare --epochs 2 --batch-size 32 --out " + out + " --data " + small_cifar_dir());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("standard "), std::string::npos);
  EXPECT_NE(r.out.find("beats"), std::string::npos);
  for (const char* f : {"loss_curves.png", "accuracy.png", "metrics.json", "summary.txt",
                        "seed0/standard/checkpoint.bin", "seed0/sumfirst/metrics.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  const auto j = nlohmann::json::parse(slurp(out + "/metrics.json"));
  EXPECT_EQ(j["models"][0]["model"], "standard");
  EXPECT_EQ(j["models"][1]["mean_loss_per_epoch"].size(), 2u);
  fs::remove_all(out);
}

TEST(Cli, DownloadFailsCleanlyOffline) {
  const std::string dest =
      (fs::temp_directory_path() / ("convlab_dl_" + std::to_string(::getpid()))).string();
  // Connection refused (nothing listens on port 9 here): no network needed to test the failure
  // path.
  CliRun r;
  const std::string fake = dest + "/fake.tar.gz";
  fs::create_directories(dest);
  std::ofstream(fake) << "not the archive";
  setenv("CONVLAB_CIFAR10_URL", ("file://" + fake).c_str(), 1);
  r = run_cli("download cifar10 --dest " + dest);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("checksum mismatch"), std::string::npos) << r.out;
  setenv("CONVLAB_CIFAR10_URL", "http://127.0.0.1:9/cifar-10-binary.tar.gz", 1);
  r = run_cli("download cifar10 --dest " + dest);
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(lines(r.out), 2u) << r.out;  // "downloading ..." and the one error line
  EXPECT_NE(r.out.find("could not download"), std::string::npos) << r.out;
  unsetenv("CONVLAB_CIFAR10_URL");
  EXPECT_FALSE(fs::exists(dest + "/cifar-10-batches-bin"));
  for (const auto& e : fs::directory_iterator(dest))
    EXPECT_EQ(e.path().filename(), "fake.tar.gz");  // no leftovers
  fs::remove_all(dest);
}

TEST(Cli, InspectPrintsTheNotebooksLayerTable) {
  CliRun r = run_cli("inspect --data " + small_cifar_dir());
  ASSERT_EQ(r.code, 0) << r.out;
  // The notebook's nine rows, in order, with the same shapes.
  auto row = [](std::string type, const char* shape) {
    type.resize(17, ' ');  // the layer-type column
    return type + " " + shape;
  };
  const std::vector<std::string> rows = {row("Conv2d", "[1, 8, 32, 32]"),
                                         row("ReLU", "[1, 8, 32, 32]"),
                                         row("Conv2d", "[1, 16, 32, 32]"),
                                         row("ReLU", "[1, 16, 32, 32]"),
                                         row("MaxPool2d", "[1, 16, 16, 16]"),
                                         row("Flatten", "[1, 4096]"),
                                         row("Linear", "[1, 64]"),
                                         row("ReLU", "[1, 64]"),
                                         row("Linear", "[1, 10]")};
  size_t pos = 0;
  for (const auto& want : rows) {
    pos = r.out.find(want, pos);
    ASSERT_NE(pos, std::string::npos) << want << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("total parameters: 264250"), std::string::npos);
  r = run_cli("inspect --json --model sumfirst --data " + small_cifar_dir());
  ASSERT_EQ(r.code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["layers"][0]["type"], "ChannelSum");
  EXPECT_EQ(j["layers"][0]["output_shape"], nlohmann::json::array({1, 1, 32, 32}));
  EXPECT_EQ(j["layers"].size(), 10u);
  // A model file, in PyTorch's constructor syntax.
  const std::string file =
      (fs::temp_directory_path() / ("convlab_model_" + std::to_string(::getpid()))).string();
  std::ofstream(file)
      << "nn.Conv2d(3, 4, kernel_size=5)\nnn.ReLU()\nnn.MaxPool2d(2)\nnn.Flatten()\n"
         "nn.Linear(4 * 14 * 14, 10)\n";
  r = run_cli("inspect --model " + file + " --data " + small_cifar_dir());
  EXPECT_EQ(r.code, 1) << r.out;  // "4 * 14 * 14" is not a number: the line is named
  EXPECT_NE(r.out.find(file + ":5"), std::string::npos) << r.out;
  std::ofstream(file)
      << "nn.Conv2d(3, 4, kernel_size=5)\nnn.ReLU()\nnn.MaxPool2d(2)\nnn.Flatten()\n"
         "nn.Linear(784, 10)\n";
  r = run_cli("inspect --model " + file + " --data " + small_cifar_dir());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(row("MaxPool2d", "[1, 4, 14, 14]")), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(row("Linear", "[1, 10]")), std::string::npos) << r.out;
  fs::remove(file);
}

TEST(Cli, DecomposeChecksTheSumAndWritesItsMaps) {
  const std::string out =
      (fs::temp_directory_path() / ("convlab_dec_" + std::to_string(::getpid()))).string();
  CliRun r = run_cli("decompose --layer 0 --filter 3 --image 2 --out " + out + " --data " +
                     small_cifar_dir());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(": True"), std::string::npos) << r.out;
  for (const char* f : {"contribution_0.png", "contribution_1.png", "contribution_2.png",
                        "summed.png", "layer_output.png"})
    EXPECT_GT(fs::file_size(out + "/" + f), 2000u) << f;
  r = run_cli("decompose --layer 2 --filter 1 --without-bias --data " + small_cifar_dir());
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find(": False"), std::string::npos) << r.out;
  for (const char* bad : {"decompose --layer 1", "decompose --filter 99",
                          "decompose --image 100000", "decompose --out /dev/null/x"}) {
    r = run_cli(std::string(bad) + " --data " + small_cifar_dir());
    EXPECT_EQ(r.code, 1) << bad;
    EXPECT_EQ(lines(r.out), 1u) << bad << "\n" << r.out;
  }
  fs::remove_all(out);
}

// CONVLAB_ISA lowers the kernels' instruction set; a value it does not know is one clear error.
TEST(Cli, InstructionSetFromTheEnvironment) {
  ::setenv("CONVLAB_ISA", "avx9", 1);
  const CliRun bad = run_cli("inspect");
  ::setenv("CONVLAB_ISA", "generic", 1);
  const CliRun generic = run_cli("inspect");
  ::unsetenv("CONVLAB_ISA");
  EXPECT_NE(bad.code, 0);
  EXPECT_EQ(lines(bad.out), 1u) << bad.out;
  EXPECT_NE(bad.out.find("CONVLAB_ISA must be avx512, avx2 or generic; got 'avx9'"),
            std::string::npos)
      << bad.out;
  EXPECT_EQ(generic.code, 0) << generic.out;
  EXPECT_NE(generic.out.find("Linear"), std::string::npos) << generic.out;
}

TEST(Cli, ModelsFolderAndRecipeFlags) {
  // The shipped ResNet-20 and VGG read as PyTorch printed them, with PyTorch's parameter counts.
  CliRun r = run_cli("inspect --model " + std::string(CONVLAB_SOURCE_DIR) +
                     "/models/resnet20.txt --data " + small_cifar_dir());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("total parameters: 272474"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3.body.0"), std::string::npos) << r.out;
  r = run_cli("inspect --model " + std::string(CONVLAB_SOURCE_DIR) + "/models/vgg_bn.txt --data " +
              small_cifar_dir());
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("total parameters: 666858"), std::string::npos) << r.out;
  for (const std::string bad : {"--augment rotate", "--schedule step:0:1", "--schedule linear",
                                "--normalize 0.5,0.5", "--optimizer adamx"}) {
    r = run_cli("train " + bad + " --data " + small_cifar_dir());
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.out;
    EXPECT_EQ(lines(r.out), 1u) << bad << "\n" << r.out;
  }
  // Normalisation with the wrong channel count is bad input for this data set.
  const std::string out = "/tmp/convlab_norm_" + std::to_string(::getpid());
  r = run_cli("train --normalize 0.5/0.5 --epochs 1 --out " + out + " --data " + small_cifar_dir());
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("3 channels"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out));  // refused before anything was written
}
