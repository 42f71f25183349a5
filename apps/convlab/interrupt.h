// Ctrl-C and SIGTERM. The handlers are installed first thing in main, so no signal finds the
// default action. Inside a StopOnSignal scope (train, compare: from before the data is loaded) the
// first signal is recorded and training stops before its next batch, keeping the last complete
// epoch on disk (train::Interrupted, exit 128 + signal). Outside such a scope, or at a second
// signal, the process ends at once with one line and the same exit code.
#pragma once

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

#include "convlab/train/trainer.h"

namespace convlab::cli {

class StopOnSignal {
 public:
  StopOnSignal() {
    requested().store(0);
    active().store(true);
  }
  ~StopOnSignal() { active().store(false); }
  StopOnSignal(const StopOnSignal&) = delete;
  StopOnSignal& operator=(const StopOnSignal&) = delete;

  static void install_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }

  // In a job of several processes, any signal ends this process at once with `line` (static
  // storage): mpirun signals every process when one fails, and a process waiting in a collective
  // operation would never reach a safe point.
  static void end_at_once_with(const char* line) { job_line().store(line); }

  // Adds the stop request to a set of progress callbacks.
  static train::Progress with_stop(train::Progress p) {
    p.stop_requested = [] { return requested().load(); };
    return p;
  }

 private:
  static void on_signal(int sig) {
    // Only async-signal-safe calls here: atomics, write(2), _exit(2).
    if (const char* line = job_line().load()) {
      [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line, std::strlen(line));
      ::_exit(128 + sig);
    }
    if (active().load() && requested().exchange(sig) == 0) return;
    const char* msg =
        sig == SIGINT ? "convlab: interrupted by SIGINT\n" : "convlab: interrupted by SIGTERM\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, msg, std::strlen(msg));
    ::_exit(128 + sig);
  }
  // Lock-free atomics are safe to use from a signal handler.
  static std::atomic<int>& requested() {
    static std::atomic<int> signal{0};
    return signal;
  }
  static std::atomic<const char*>& job_line() {
    static std::atomic<const char*> line{nullptr};
    return line;
  }
  static std::atomic<bool>& active() {
    static std::atomic<bool> on{false};
    return on;
  }
};

}  // namespace convlab::cli
