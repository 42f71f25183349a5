// convlab: the command-line tool. Each subcommand lives in its own file and registers itself here;
// this file turns every error into one line on stderr and a non-zero exit: 2 for a bad flag, 1 for
// bad input, 130/143 after SIGINT/SIGTERM (train and compare stop at a safe point). Started by
// mpirun, every process joins the job first; train and compare share their work among the
// processes, process 0 alone prints to stdout, and any process's error ends the whole job (every
// other process stops with one line too, never waits).
#include <unistd.h>
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <new>

#include "commands.h"
#include "convlab/error.h"
#include "convlab/ops/kernels.h"
#include "convlab/train/trainer.h"
#include "interrupt.h"

namespace {

std::unique_ptr<convlab::train::Communicator> g_job;  // set when mpirun started this process

int fail(const std::string& message, int code) {
  std::cout.flush();
  const bool job = g_job && g_job->size() > 1;
  // One write for the whole line: std::cerr writes each piece at once, and under mpirun the
  // processes' pieces interleaved on the shared stderr ("convlab: error: convlab: error: ...").
  const std::string line = "convlab: error: " +
                           (job ? "process " + std::to_string(g_job->rank()) + " of " +
                                      std::to_string(g_job->size()) + ": "
                                : std::string()) +
                           convlab::one_line(message) + "\n";
  std::cerr.flush();
  for (size_t done = 0; done < line.size();) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // stderr is gone: nothing left to tell
    done += static_cast<size_t>(n);
  }
  // The other processes may be waiting for this one in a collective operation: end them all.
  if (job) g_job->abort(code);
  return code;
}

// Under mpirun: join the job; quiet stdout on every process but 0; signals end a process at once.
int join_job_if_launched(int argc, char** argv) {
  if (!convlab::train::launched_by_mpirun()) return 0;
  try {
    g_job = convlab::train::join_mpi_job();
  } catch (const convlab::Error& e) {
    return fail(e.what(), 1);
  }
  if (g_job->rank() != 0 && !std::freopen("/dev/null", "w", stdout))
    return fail("cannot silence the standard output of process " + std::to_string(g_job->rank()),
                1);
  if (g_job->size() <= 1) return 0;
  static const std::string line = "convlab: error: process " + std::to_string(g_job->rank()) +
                                  " of " + std::to_string(g_job->size()) +
                                  ": stopped by a signal (another process of the job failed, or "
                                  "the job was stopped); the last complete epoch stays on disk\n";
  convlab::cli::StopOnSignal::end_at_once_with(line.c_str());
  if (argc >= 2 && std::strcmp(argv[1], "train") != 0 && std::strcmp(argv[1], "compare") != 0 &&
      argv[1][0] != '-')
    return fail("convlab " + convlab::excerpt(argv[1], 40) +
                    " runs in one process; under mpirun only train and compare share their work",
                2);
  return 0;
}

// CLI11 reads an unknown first word as a stray argument ("A subcommand is required"); name it.
std::string unknown_subcommand(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return {};
  std::string valid;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    if (sub->get_name() == argv[1]) return {};
    valid += (valid.empty() ? "" : ", ") + sub->get_name();
  }
  return "unknown subcommand '" + convlab::excerpt(argv[1], 40) + "' (valid: " + valid + ")";
}

}  // namespace

convlab::train::Communicator& convlab::cli::world() {
  static convlab::train::SingleProcess one;
  return g_job ? *g_job : one;
}

int run(int argc, char** argv);

int main(int argc, char** argv) {
  convlab::cli::StopOnSignal::install_handlers();
  if (const int code = join_job_if_launched(argc, argv)) return code;
  const int code = run(argc, argv);
  g_job.reset();  // MPI_Finalize
  return code;
}

int run(int argc, char** argv) {
  CLI::App app{"convlab: multi-channel convolutional networks, number by number"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "convlab 0.1.0");
  convlab::cli::add_demo(app);
  convlab::cli::add_train(app);
  convlab::cli::add_evaluate(app);
  convlab::cli::add_compare(app);
  convlab::cli::add_download(app);
  convlab::cli::add_inspect(app);
  convlab::cli::add_decompose(app);
  convlab::cli::add_export(app);
  convlab::cli::add_predict(app);
  try {
    convlab::kernels::best_isa();  // a bad CONVLAB_ISA is reported here, before any work
    if (const std::string bad = unknown_subcommand(app, argc, argv); !bad.empty())
      return fail(bad + " (see convlab --help)", 2);
    app.parse(argc, argv);
    // Output that could not be written (a full disk, a closed pipe) is a failure, not a success.
    std::cout.flush();
    if (!std::cout || std::fflush(stdout) != 0 || std::ferror(stdout))
      return fail(std::string("cannot write the output: ") + std::strerror(errno), 1);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(std::string(e.what()) + " (see convlab --help)", 2);
  } catch (const convlab::train::Interrupted& e) {
    std::cout.flush();
    std::cerr << "convlab: " << convlab::one_line(e.what()) << "\n";
    return 128 + e.signal;
  } catch (const convlab::Error& e) {
    return fail(e.what(), 1);
  } catch (const std::bad_alloc&) {
    // The size checks refuse what cannot fit before allocating; this is the last line of defence.
    return fail("out of memory (set CONVLAB_MEMORY_LIMIT lower to be refused earlier)", 1);
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "convlab: internal error: " << convlab::one_line(e.what()) << "\n";
    if (g_job && g_job->size() > 1) g_job->abort(3);
    return 3;
  }
  return 0;
}
