// The low layers that keep bad input harmless: file reads, checked sizes, the memory limit,
// message excerpts and run directories.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/limits.h"
#include "convlab/train/run_directory.h"

namespace fs = std::filesystem;
using namespace convlab;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(ReadFile, AcceptsRegularFilesOnlyAndNeverBlocks) {
  const fs::path d = fresh_dir("convlab_read");
  std::ofstream(d / "f.txt") << "hello";
  EXPECT_EQ(read_text_file((d / "f.txt").string(), 100, "model file"), "hello");
  // A symlink to a regular file is read as the file.
  fs::create_symlink("f.txt", d / "link");
  EXPECT_EQ(read_text_file((d / "link").string(), 100), "hello");
  EXPECT_NE(error_of([&] { read_file(d.string(), 100, "checkpoint"); }).find("is a directory"),
            std::string::npos);
  ASSERT_EQ(::mkfifo((d / "fifo").c_str(), 0600), 0);
  EXPECT_NE(error_of([&] { read_file((d / "fifo").string(), 100); }).find("is a FIFO"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_file("/dev/zero", 100); }).find("character device"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              read_file((d / "f.txt").string(), 4, "model file");
            }).find("has 5 bytes; at most 4 bytes are accepted"),
            std::string::npos);
  fs::create_symlink("loop2", d / "loop1");
  fs::create_symlink("loop1", d / "loop2");
  EXPECT_NE(error_of([&] { read_file((d / "loop1").string(), 100); }).find("symbolic links"),
            std::string::npos);
  EXPECT_NE(error_of([&] { read_file((d / "missing").string(), 100); }).find("No such file"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { read_file("", 100, "checkpoint"); }).find("checkpoint: the path is empty"),
      std::string::npos);
  fs::remove_all(d);
}

TEST(WriteFile, AtomicAndStaleTemporariesOfDeadProcessesRemoved) {
  const fs::path d = fresh_dir("convlab_write");
  const std::string target = (d / "out.json").string();
  write_file_atomically(target, std::string("one"));
  // A failing writer leaves the earlier content and no temporary.
  EXPECT_THROW(write_file_atomically(target, [](const std::string&) { throw IoError("boom"); }),
               IoError);
  EXPECT_EQ(slurp(target), "one");
  EXPECT_FALSE(fs::exists(temporary_name(target)));
  // Temporaries of a pid that does not run are removed; ours and a live process's are kept.
  std::ofstream(d / "out.json.tmp.4194000") << "x";
  std::ofstream(d / ("out.json.tmp." + std::to_string(::getpid()))) << "x";
  std::ofstream(d / "out.json.tmp.1") << "x";  // init always runs
  std::ofstream(d / "notes.tmp.txt") << "x";   // not a temporary's name
  EXPECT_EQ(remove_stale_temporaries(d.string()), 1);
  EXPECT_FALSE(fs::exists(d / "out.json.tmp.4194000"));
  EXPECT_TRUE(fs::exists(d / "out.json.tmp.1"));
  EXPECT_TRUE(fs::exists(d / "notes.tmp.txt"));
  fs::remove_all(d);
}

TEST(Limits, CheckedArithmeticAndMemoryLimit) {
  EXPECT_EQ(checked_mul(1 << 20, 1 << 20, "x"), int64_t{1} << 40);
  EXPECT_THROW(checked_mul(int64_t{1} << 32, int64_t{1} << 32, "x"), ValueError);
  EXPECT_THROW(checked_mul(-1, 2, "x"), ValueError);
  EXPECT_THROW(checked_add(INT64_MAX, 1, "x"), ValueError);
  EXPECT_THROW(checked_numel({1 << 30, 1 << 30, 1 << 30}, "x"), ValueError);
  EXPECT_THROW(numel({int64_t{1} << 31, int64_t{1} << 31, int64_t{1} << 31}), ValueError);
  EXPECT_GT(memory_limit_bytes(), uint64_t{1} << 20);
  EXPECT_NO_THROW(check_memory(1000, "small"));
  const std::string msg = error_of([] { check_memory(uint64_t{1} << 62, "a huge model"); });
  EXPECT_NE(msg.find("a huge model needs about"), std::string::npos) << msg;
  EXPECT_NE(msg.find("the memory limit is"), std::string::npos) << msg;
  // A tensor that cannot fit is refused before allocation, with the shape in the message.
  EXPECT_THROW(check_shape({int64_t{1} << 20, int64_t{1} << 20, 1 << 10}, "T"), ValueError);
}

TEST(Messages, ExcerptEscapesAndCuts) {
  EXPECT_EQ(excerpt("plain"), "plain");
  EXPECT_EQ(excerpt("a\x1b[31mb\n"), "a\\x1b[31mb\\n");
  const std::string cut = excerpt(std::string(10000, 'x'), 200);
  EXPECT_EQ(cut.substr(0, 200), std::string(200, 'x'));
  EXPECT_NE(cut.find("(9800 more bytes)"), std::string::npos) << cut;
  EXPECT_LE(one_line(std::string(5000, 'y')).size(), 1100u);
}

namespace {

train::Checkpoint checkpoint_at(int64_t epoch) {
  train::Checkpoint c;
  c.header = {{"epoch", epoch}};
  c.tensors.emplace("w", Tensor({2}, static_cast<float>(epoch)));
  return c;
}

int64_t saved_epoch(const fs::path& dir) {
  return train::load_checkpoint((dir / "checkpoint.bin").string()).header.at("epoch");
}

}  // namespace

TEST(RunDirectory, BothFilesSwitchTogetherAndOldEpochsGo) {
  const fs::path d = fresh_dir("convlab_run");
  const fs::path run = d / "run";
  EXPECT_FALSE(train::holds_run(run.string()));
  (void)train::prepare_run_directory(run.string(), train::RunMode::fresh);
  for (int64_t e = 1; e <= 3; ++e) {
    train::commit_run(run.string(), checkpoint_at(e), nlohmann::json({{"epochs", e}}).dump());
    EXPECT_EQ(saved_epoch(run), e);
    EXPECT_EQ(nlohmann::json::parse(slurp(run / "metrics.json"))["epochs"], e);
  }
  // One epoch directory remains: the one both files point to.
  int epoch_dirs = 0;
  for (const auto& e : fs::directory_iterator(run))
    epoch_dirs += e.path().filename().string().rfind(".epoch-", 0) == 0;
  EXPECT_EQ(epoch_dirs, 1);
  EXPECT_TRUE(train::holds_run(run.string()));
  // A new run refuses the directory, naming both ways forward; the run stays as it was.
  const std::string msg = error_of(
      [&] { (void)train::prepare_run_directory(run.string(), train::RunMode::fresh, "--out"); });
  EXPECT_NE(msg.find("--resume"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--overwrite"), std::string::npos) << msg;
  EXPECT_EQ(saved_epoch(run), 3);
  // What a killed run left (its epoch directory, a temporary) goes when the next run starts.
  fs::create_directory(run / ".epoch-000004.4194000");
  std::ofstream(run / ".epoch-000004.4194000" / "checkpoint.bin") << "half";
  std::ofstream(run / "metrics.json.tmp.4194001") << "half";
  (void)train::prepare_run_directory(run.string(), train::RunMode::resume);
  EXPECT_FALSE(fs::exists(run / ".epoch-000004.4194000"));
  EXPECT_FALSE(fs::exists(run / "metrics.json.tmp.4194001"));
  EXPECT_EQ(saved_epoch(run), 3);
  // --overwrite over an older layout's regular files replaces them.
  const fs::path old = d / "old";
  fs::create_directories(old);
  std::ofstream(old / "checkpoint.bin") << "old";
  std::ofstream(old / "metrics.json") << "{}";
  (void)train::prepare_run_directory(old.string(), train::RunMode::overwrite);
  train::commit_run(old.string(), checkpoint_at(1), "{\"epochs\": 1}");
  EXPECT_EQ(saved_epoch(old), 1);
  EXPECT_EQ(nlohmann::json::parse(slurp(old / "metrics.json"))["epochs"], 1);
  fs::remove_all(d);
}
