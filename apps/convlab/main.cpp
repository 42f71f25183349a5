// convlab: the command-line tool. Each subcommand lives in its own file and registers itself here;
// this file turns every error into one line on stderr and a non-zero exit.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <iostream>

#include "commands.h"
#include "convlab/error.h"
#include "convlab/ops/kernels.h"

int main(int argc, char** argv) {
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
  try {
    convlab::kernels::best_isa();  // a bad CONVLAB_ISA is reported here, before any work
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "convlab: error: " << e.what() << " (see convlab --help)\n";
    return 2;
  } catch (const convlab::Error& e) {
    std::cerr << "convlab: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "convlab: internal error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
