#include "convlab/data/download.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "convlab/error.h"
#include "convlab/io/file.h"

extern char** environ;

namespace convlab::data {

namespace {

// Runs a program with arguments (no shell), returns its exit status; stdout captured if asked.
int run(const std::vector<std::string>& argv, std::string* out = nullptr) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int pipe_fds[2] = {-1, -1};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out) {
    if (::pipe(pipe_fds) != 0) throw IoError("cannot create a pipe to run " + argv[0]);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  }
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (out) ::close(pipe_fds[1]);
  if (rc != 0) {
    if (out) ::close(pipe_fds[0]);
    throw IoError("download needs '" + argv[0] + "' on the machine (apt-get install " + argv[0] +
                  ")");
  }
  if (out) {
    std::array<char, 4096> buf{};
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buf.data(), buf.size())) > 0)
      out->append(buf.data(), static_cast<size_t>(n));
    ::close(pipe_fds[0]);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

}  // namespace

std::string cifar10_url() {
  if (const char* u = std::getenv("CONVLAB_CIFAR10_URL"); u && *u) return u;
  return "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
}

std::string download_cifar10(const std::string& dest) {
  namespace fs = std::filesystem;
  ensure_directory(dest, "download directory");
  std::error_code ec;
  const std::string target = dest + "/cifar-10-batches-bin";
  if (fs::exists(target + "/test_batch.bin") &&
      fs::file_size(target + "/test_batch.bin", ec) == 30730000)
    return target;  // already there, complete
  const std::string archive = dest + "/.cifar-10-binary.tar.gz.part";
  const std::string url = cifar10_url();
  struct Cleanup {
    std::string path;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  } cleanup{archive};
  const int curl =
      run({"curl", "-fsL", "--connect-timeout", "20", "--max-time", "1800", "-o", archive, url});
  if (curl != 0)
    throw IoError("could not download " + url + " (curl exit code " + std::to_string(curl) +
                  "; offline?). convlab's shipped CIFAR-10 subset in data/ works without it");
  std::string sum;
  if (run({"md5sum", archive}, &sum) != 0 || sum.size() < 32)
    throw IoError("could not compute the MD5 of the downloaded " + url);
  if (sum.substr(0, 32) != kCifar10Md5)
    throw IoError("checksum mismatch for " + url + ": MD5 " + sum.substr(0, 32) + ", expected " +
                  kCifar10Md5 + "; nothing was unpacked");
  if (run({"tar", "-xzf", archive, "-C", dest}) != 0) throw IoError("could not unpack " + archive);
  return target;
}

}  // namespace convlab::data
