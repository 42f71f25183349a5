#include "convlab/train/run_directory.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "convlab/error.h"
#include "convlab/io/file.h"

namespace convlab::train {

namespace fs = std::filesystem;

namespace {

constexpr const char* kCurrent = ".run";
constexpr const char* kEpochPrefix = ".epoch-";

bool exists_no_follow(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// Where DIR/.run points ("" if it does not exist).
std::string current_target(const std::string& dir) {
  char buf[256];
  const ssize_t n = ::readlink((dir + "/" + kCurrent).c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// Replaces DIR/name with a symlink to target, atomically (a temporary symlink renamed over it).
void place_symlink(const std::string& dir, const std::string& name, const std::string& target) {
  const std::string path = dir + "/" + name, tmp = temporary_name(path);
  ::unlink(tmp.c_str());
  if (::symlink(target.c_str(), tmp.c_str()) != 0 || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError("cannot write " + excerpt(path) + ": " + std::strerror(err));
  }
}

void write_into(const std::string& path, const std::string& content) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw IoError("cannot write " + excerpt(path) + ": " + std::strerror(errno));
  const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size() &&
                  std::fflush(f) == 0 && ::fsync(fileno(f)) == 0;
  std::fclose(f);
  if (!ok) throw IoError("cannot write " + excerpt(path) + ": short write");
}

}  // namespace

bool holds_run(const std::string& dir) {
  for (const char* name : {"checkpoint.bin", "metrics.json", kCurrent})
    if (exists_no_follow(dir + "/" + name)) return true;
  return false;
}

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

void refuse_if_holding_a_run(const std::string& dir, RunMode mode, const std::string& flag) {
  if (mode == RunMode::fresh && holds_run(dir))
    throw IoError(flag + " " + excerpt(dir) + " holds an earlier run; continue it with --resume " +
                  excerpt(dir) +
                  "/checkpoint.bin, replace it with --overwrite, or choose another " + flag);
}

}  // namespace

RunLock prepare_run_directory(const std::string& dir, RunMode mode, const std::string& flag) {
  if (dir.empty()) throw IoError(flag + ": the path is empty");
  refuse_if_holding_a_run(dir, mode, flag);
  ensure_directory(dir);
  const std::string lock_path = dir + "/.lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) throw IoError("cannot lock " + excerpt(lock_path) + ": " + std::strerror(errno));
  RunLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
    throw IoError(flag + " " + excerpt(dir) + " is in use by another convlab run");
  // Checked again under the lock: a run that started at the same moment may have committed.
  refuse_if_holding_a_run(dir, mode, flag);
  remove_stale_run_files(dir);
  return lock;
}

int remove_stale_run_files(const std::string& dir) {
  int removed = remove_stale_temporaries(dir);
  const std::string current = current_target(dir);
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(kEpochPrefix, 0) != 0 || name == current) continue;
    const int pid = owner_pid(name);
    if (pid != ::getpid() && process_runs(pid)) continue;  // another live run's: not ours to touch
    std::error_code rm;
    fs::remove_all(it->path(), rm);
    if (!rm) ++removed;
  }
  return removed;
}

void commit_run(const std::string& dir, const Checkpoint& checkpoint, const std::string& metrics) {
  ensure_directory(dir);
  const int64_t epoch = checkpoint.header.value("epoch", int64_t{0});
  char name[64];
  std::snprintf(name, sizeof name, "%s%06lld.%d", kEpochPrefix, static_cast<long long>(epoch),
                static_cast<int>(::getpid()));
  const std::string epoch_dir = dir + "/" + name;
  std::error_code ec;
  fs::remove_all(epoch_dir, ec);
  if (::mkdir(epoch_dir.c_str(), 0777) != 0)
    throw IoError("cannot create " + excerpt(epoch_dir) + ": " + std::strerror(errno));
  try {
    save_checkpoint(epoch_dir + "/checkpoint.bin", checkpoint);
    write_into(epoch_dir + "/metrics.json", metrics);
    sync_directory(epoch_dir);
    // The fixed symlinks first (replacing an older layout's regular files: the user asked for it
    // with --overwrite or --resume), then the one rename that switches both files to this epoch.
    for (const char* file : {"checkpoint.bin", "metrics.json"}) {
      const std::string target = std::string(kCurrent) + "/" + file;
      char buf[64];
      const ssize_t n = ::readlink((dir + "/" + file).c_str(), buf, sizeof buf);
      if (n != static_cast<ssize_t>(target.size()) || target.compare(0, target.size(), buf, n) != 0)
        place_symlink(dir, file, target);
    }
    place_symlink(dir, kCurrent, name);
    sync_directory(dir);
  } catch (...) {
    if (current_target(dir) != name) fs::remove_all(epoch_dir, ec);
    throw;
  }
  remove_stale_run_files(dir);
}

}  // namespace convlab::train
