// Every input the fuzzers found (fuzz/regressions) and every seed (fuzz/corpus) replayed through
// the fuzz targets' own entries, in this build (Release, and ASan + UBSan in the sanitizer pass):
// each must end in a model or a convlab::Error, never another exception, a crash or a report.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "fuzz_entry.h"

namespace fs = std::filesystem;

namespace {

const std::map<std::string, int (*)(const uint8_t*, size_t)>& targets() {
  static const std::map<std::string, int (*)(const uint8_t*, size_t)> t = {
      {"fuzz_model_text", convlab_fuzz::model_text},
      {"fuzz_checkpoint", convlab_fuzz::checkpoint},
      {"fuzz_safetensors", convlab_fuzz::safetensors},
      {"fuzz_onnx", convlab_fuzz::onnx},
      {"fuzz_cifar10", convlab_fuzz::cifar10},
      {"fuzz_mnist", convlab_fuzz::mnist},
  };
  return t;
}

int replay_all(const fs::path& root) {
  int replayed = 0;
  for (const auto& [name, run] : targets()) {
    if (!fs::is_directory(root / name)) continue;
    for (const auto& e : fs::directory_iterator(root / name)) {
      if (!e.is_regular_file()) continue;
      std::ifstream in(e.path(), std::ios::binary);
      const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                       std::istreambuf_iterator<char>());
      SCOPED_TRACE(e.path().string());
      EXPECT_NO_THROW(run(bytes.data(), bytes.size()));
      ++replayed;
    }
  }
  return replayed;
}

}  // namespace

TEST(Fuzz, FindingsStayFixed) {
  EXPECT_GE(replay_all(fs::path(CONVLAB_SOURCE_DIR) / "fuzz" / "regressions"), 3);
}

TEST(Fuzz, SeedsAreHandled) {
  EXPECT_GE(replay_all(fs::path(CONVLAB_SOURCE_DIR) / "fuzz" / "corpus"), 10);
}
