// Replays every saved fuzz finding through the entry of the target that found it:
//   fuzz_replay [REGRESSIONS_DIR]     (default: the repository's fuzz/regressions)
// Each file of REGRESSIONS_DIR/<target>/ (fuzz_model_text, fuzz_checkpoint, fuzz_cifar10,
// fuzz_mnist, fuzz_safetensors, fuzz_onnx) goes through the same function as in the fuzzer, which
// catches convlab::Error only. Any other exception is reported with the file's name and the exit
// code is 1; a crash or a sanitizer report ends the program as it would end the fuzzer. Exit 0:
// every finding is fixed.
#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "fuzz_entry.h"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  convlab_fuzz::set_memory_limit();
  const fs::path root = argc > 1 ? fs::path(argv[1]) : fs::path(CONVLAB_FUZZ_REGRESSIONS);
  const std::map<std::string, int (*)(const uint8_t*, size_t)> targets = {
      {"fuzz_model_text", convlab_fuzz::model_text},
      {"fuzz_checkpoint", convlab_fuzz::checkpoint},
      {"fuzz_safetensors", convlab_fuzz::safetensors},
      {"fuzz_onnx", convlab_fuzz::onnx},
      {"fuzz_cifar10", convlab_fuzz::cifar10},
      {"fuzz_mnist", convlab_fuzz::mnist},
  };
  int replayed = 0, failed = 0;
  for (const auto& [name, run] : targets) {
    const fs::path dir = root / name;
    if (!fs::is_directory(dir)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());  // a stable order, so a report names the same file
    for (const fs::path& f : files) {
      std::ifstream in(f, std::ios::binary);
      const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                       std::istreambuf_iterator<char>());
      std::cerr << "replay " << f.string() << "\n";
      ++replayed;
      try {
        run(bytes.data(), bytes.size());
      } catch (const std::exception& e) {
        std::cerr << "fuzz_replay: " << f.string() << ": unexpected exception: " << e.what()
                  << "\n";
        ++failed;
      } catch (...) {
        std::cerr << "fuzz_replay: " << f.string() << ": unexpected non-std exception\n";
        ++failed;
      }
    }
  }
  std::cerr << "fuzz_replay: " << replayed << " inputs, " << failed << " failed\n";
  return failed ? 1 : 0;
}
