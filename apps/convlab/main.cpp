// convlab: the command-line tool. Each subcommand lives in its own file and registers itself here;
// this file turns every error into one line on stderr and a non-zero exit: 2 for a bad flag, 1 for
// bad input, 130/143 after SIGINT/SIGTERM (train and compare stop at a safe point).
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

int fail(const std::string& message, int code) {
  std::cout.flush();
  std::cerr << "convlab: error: " << convlab::one_line(message) << "\n";
  return code;
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

int main(int argc, char** argv) {
  convlab::cli::StopOnSignal::install_handlers();
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
    return 3;
  }
  return 0;
}
