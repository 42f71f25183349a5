// Registration of the subcommands, one per file in this directory.
#pragma once

#include <CLI/CLI.hpp>

#include "convlab/train/communicator.h"

namespace convlab::cli {

// The processes this convlab runs with: one, or the MPI job's when mpirun started it (main.cpp).
train::Communicator& world();
// What train and compare do when mpirun started them and --chunk-size is not given: the same for
// every process count (1 included), so that the numbers never depend on it.
constexpr int64_t kDefaultChunkUnderMpirun = 16;

void add_demo(CLI::App& app);       // demo.cpp
void add_train(CLI::App& app);      // train.cpp
void add_evaluate(CLI::App& app);   // evaluate.cpp
void add_compare(CLI::App& app);    // compare.cpp
void add_download(CLI::App& app);   // download.cpp
void add_inspect(CLI::App& app);    // inspect.cpp
void add_decompose(CLI::App& app);  // decompose.cpp
void add_export(CLI::App& app);     // export.cpp
void add_predict(CLI::App& app);    // predict.cpp

}  // namespace convlab::cli
