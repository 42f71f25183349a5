// convlab compare: the notebook's experiment, standard against sum-first, one recipe and seed.
// With no flags: the shipped CIFAR-10 subset and the notebook's recipe (25 epochs, batch 64,
// Adam 1e-3).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <thread>

#include "commands.h"
#include "convlab/experiment/compare.h"
#include "convlab/train/run_directory.h"
#include "interrupt.h"
#include "options.h"
#include "progress.h"

namespace convlab::cli {

void add_compare(CLI::App& app) {
  struct Flags {
    experiment::CompareOptions options;
    std::string data = default_data_dir();
    bool overwrite = false;
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "compare", "Train standard and sumfirst side by side; loss curves, accuracy bars");
  add_path_flag(cmd, "--data", f->data, "Data directory");
  add_path_flag(cmd, "--out", f->options.out_dir, "Output directory");
  add_int_flag<int64_t>(cmd, "--seeds", f->options.seeds, 1, 1000,
                        "Repeat with this many consecutive seeds; report mean +- sd");
  add_int_flag<int>(
      cmd, "--threads", f->threads, 1, 256,
      "Threads: with 2 or more the two models train side by side, each on half of them");
  add_recipe_options(cmd, f->options.recipe);
  cmd->add_flag("--overwrite", f->overwrite, "Replace an experiment that --out already holds");
  cmd->callback([f, cmd] {
    StopOnSignal stop_on_signal;  // from here on, Ctrl-C stops at the next safe point
    const auto& recipe = f->options.recipe;
    if (recipe.seed >
        std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(f->options.seeds - 1))
      throw ValueError("--seed " + std::to_string(recipe.seed) + " with --seeds " +
                       std::to_string(f->options.seeds) + " runs past the largest seed, 2^64-1");
    f->options.parallel = f->threads >= 2;
    f->options.threads_per_model = std::max(1, f->threads / 2);
    if (train::launched_by_mpirun()) {
      // One run after another, each shared among the job's processes.
      f->options.comm = &world();
      f->options.parallel = false;
      f->options.threads_per_model = f->threads;
      if (!cmd->count("--chunk-size")) f->options.recipe.chunk_size = kDefaultChunkUnderMpirun;
    }
    const auto train_set = data::load_dataset(f->data, true);
    const auto test_set = data::load_dataset(f->data, false);
    const auto& r = f->options.recipe;
    // Checked before any training: a finished experiment is never replaced by accident.
    const auto lock = world().rank() == 0
                          ? train::prepare_run_directory(
                                f->options.out_dir,
                                f->overwrite ? train::RunMode::overwrite : train::RunMode::fresh)
                          : train::RunLock();
    std::cout << "compare standard vs sumfirst on " << train_set.name << " (" << train_set.size()
              << " images) / " << test_set.name << " (" << test_set.size() << "): " << r.epochs
              << " epochs, batch " << r.batch_size << ", " << r.optimizer << " lr " << r.lr
              << ", seeds " << r.seed << ".." << r.seed + f->options.seeds - 1 << "\n";
    std::vector<std::unique_ptr<ProgressPrinter>> printers;
    const auto summaries = experiment::compare(
        f->options, train_set, test_set, [&](const std::string& label, int64_t epochs) {
          printers.push_back(std::make_unique<ProgressPrinter>(label, epochs));
          return StopOnSignal::with_stop(printers.back()->callbacks());
        });
    std::cout << "\n" << experiment::summary_table(summaries);
    const double gap = summaries[0].mean_accuracy() - summaries[1].mean_accuracy();
    std::printf("\n%s beats %s by %.1f points of test accuracy.\n",
                gap >= 0 ? "standard" : "sumfirst", gap >= 0 ? "sumfirst" : "standard",
                100 * std::fabs(gap));
    std::cout << "wrote " << f->options.out_dir
              << "/{report.html, metrics.json, summary.txt, loss_curves.png, accuracy.png, ...}\n";
  });
}

}  // namespace convlab::cli
