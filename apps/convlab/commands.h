// Registration of the subcommands, one per file in this directory.
#pragma once

#include <CLI/CLI.hpp>

namespace convlab::cli {

void add_demo(CLI::App& app);  // demo.cpp

}  // namespace convlab::cli
