// A run directory is one consistent unit: DIR/checkpoint.bin and DIR/metrics.json always describe
// the same epoch, even if the process is killed at any instant. Both are written into a fresh
// hidden directory per epoch, and one atomic rename of a symlink makes them visible together:
//
//   DIR/checkpoint.bin -> .run/checkpoint.bin      (fixed symlinks, made once)
//   DIR/metrics.json   -> .run/metrics.json
//   DIR/.run           -> .epoch-000003.<pid>       (switched by rename(2) after every epoch)
//   DIR/.epoch-000003.<pid>/{checkpoint.bin, metrics.json}
//
// Readers open DIR/checkpoint.bin as an ordinary file. Epoch directories and temporary files of
// processes that no longer run are removed when a run starts and after every commit.
#pragma once

#include <string>

#include "convlab/train/checkpoint.h"

namespace convlab::train {

enum class RunMode {
  fresh,      // the directory must not hold a run yet
  overwrite,  // an earlier run in it is replaced (at the first epoch's commit)
  resume,     // continuing the run that the directory holds (or a run from elsewhere)
};

// Whether `dir` holds a run (a checkpoint.bin, metrics.json or .run entry, even a broken one).
bool holds_run(const std::string& dir);

// Holds DIR/.lock (flock) while a run writes into DIR, so that a second process refuses it
// instead of mixing two runs' epochs; the kernel releases it when the process ends, however.
class RunLock {
 public:
  explicit RunLock(int fd = -1) : fd_(fd) {}
  RunLock(RunLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RunLock& operator=(RunLock&&) = delete;
  ~RunLock();

 private:
  int fd_;
};

// Prepares `dir` for a run: creates it, takes its lock (IoError if another process holds it),
// removes what dead runs left, and in RunMode::fresh refuses a directory that holds a run with an
// IoError that names --resume and --overwrite. `flag` names the option the directory came from.
[[nodiscard]] RunLock prepare_run_directory(const std::string& dir, RunMode mode,
                                            const std::string& flag = "--out");

// Writes the checkpoint and the metrics text into a new epoch directory and makes both visible at
// once; then removes the previous epoch directory. Creates `dir` if needed.
void commit_run(const std::string& dir, const Checkpoint& checkpoint, const std::string& metrics);

// Removes, in `dir`, temporaries and epoch directories of processes that no longer run and epoch
// directories of this process that .run does not point to. Returns how many entries it removed.
int remove_stale_run_files(const std::string& dir);

}  // namespace convlab::train
