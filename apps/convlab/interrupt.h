// Ctrl-C and SIGTERM during training: the first one is recorded and training stops before its next
// batch, keeping the last complete epoch on disk (train::Interrupted, exit 128 + signal). The
// handler resets itself, so a second signal ends the process at once, as a user pressing Ctrl-C
// twice expects. Outside a StopOnSignal scope the default actions apply.
#pragma once

#include <atomic>
#include <csignal>

#include "convlab/train/trainer.h"

namespace convlab::cli {

class StopOnSignal {
 public:
  StopOnSignal() {
    requested().store(0);
    struct sigaction sa {};
    sa.sa_handler = [](int sig) { requested().store(sig); };
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~StopOnSignal() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  // Adds the stop request to a set of progress callbacks.
  static train::Progress with_stop(train::Progress p) {
    p.stop_requested = [] { return requested().load(); };
    return p;
  }

 private:
  // A lock-free atomic is safe to write from a signal handler.
  static std::atomic<int>& requested() {
    static std::atomic<int> signal{0};
    return signal;
  }
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace convlab::cli
