// The command-line tool end to end: exit codes, one-line errors, files written.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <array>
#include <cstdio>
#include <filesystem>

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
