// Registration of the subcommands, one per file in this directory.
#pragma once

#include <CLI/CLI.hpp>

namespace convlab::cli {

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
