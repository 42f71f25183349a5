// Progress display for training: a redrawn bar with loss and images/s on a terminal, plain lines
// otherwise (logs, pipes, CI).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <string>

#include "convlab/train/trainer.h"

namespace convlab::cli {

class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::string label, int64_t epochs)
      : label_(std::move(label)), epochs_(epochs), tty_(::isatty(STDERR_FILENO) != 0) {}

  train::Progress callbacks() {
    train::Progress p;
    if (tty_)
      p.on_batch = [this](int64_t epoch, int64_t batch, int64_t batches, double loss, double ips) {
        std::lock_guard<std::mutex> lock(mutex());
        const int width = 24, done = static_cast<int>(width * batch / batches);
        std::fprintf(stderr, "\r%s epoch %lld/%lld [%s%s] %lld/%lld loss %.4f %.0f img/s ",
                     label_.c_str(), static_cast<long long>(epoch), static_cast<long long>(epochs_),
                     std::string(done, '=').c_str(), std::string(width - done, ' ').c_str(),
                     static_cast<long long>(batch), static_cast<long long>(batches), loss, ips);
        std::fflush(stderr);
      };
    p.on_epoch = [this](const train::EpochRecord& r) {
      std::lock_guard<std::mutex> lock(mutex());
      if (tty_) std::fprintf(stderr, "\r\033[K");
      std::printf("%sepoch %lld/%lld  loss %.4f  test accuracy %.4f  %.1f s  %.0f images/s\n",
                  label_.empty() ? "" : (label_ + "  ").c_str(), static_cast<long long>(r.epoch),
                  static_cast<long long>(epochs_), r.loss, r.test_accuracy, r.seconds,
                  r.images_per_second);
      std::fflush(stdout);
    };
    return p;
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  std::string label_;
  int64_t epochs_;
  bool tty_;
};

}  // namespace convlab::cli
