// convlab compare: the notebook's experiment, standard against sum-first, one recipe and seed.
// With no flags: the shipped CIFAR-10 subset and the notebook's recipe (25 epochs, batch 64,
// Adam 1e-3).
#include <algorithm>
#include <cmath>
#include <iostream>
#include <thread>

#include "commands.h"
#include "convlab/experiment/compare.h"
#include "options.h"
#include "progress.h"

namespace convlab::cli {

void add_compare(CLI::App& app) {
  struct Flags {
    experiment::CompareOptions options;
    std::string data = default_data_dir();
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "compare", "Train standard and sumfirst side by side; loss curves, accuracy bars");
  cmd->add_option("--data", f->data, "Data directory")->capture_default_str();
  cmd->add_option("--out", f->options.out_dir, "Output directory")->capture_default_str();
  cmd->add_option("--seeds", f->options.seeds,
                  "Repeat with this many consecutive seeds; report mean +- sd")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", f->threads,
                  "Threads: with 2 or more the two models train side by side, each on half of them")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  add_recipe_options(cmd, f->options.recipe);
  cmd->callback([f] {
    f->options.parallel = f->threads >= 2;
    f->options.threads_per_model = std::max(1, f->threads / 2);
    const auto train_set = data::load_dataset(f->data, true);
    const auto test_set = data::load_dataset(f->data, false);
    const auto& r = f->options.recipe;
    std::cout << "compare standard vs sumfirst on " << train_set.name << " (" << train_set.size()
              << " images) / " << test_set.name << " (" << test_set.size() << "): " << r.epochs
              << " epochs, batch " << r.batch_size << ", " << r.optimizer << " lr " << r.lr
              << ", seeds " << r.seed << ".." << r.seed + f->options.seeds - 1 << "\n";
    std::vector<std::unique_ptr<ProgressPrinter>> printers;
    const auto summaries = experiment::compare(
        f->options, train_set, test_set, [&](const std::string& label, int64_t epochs) {
          printers.push_back(std::make_unique<ProgressPrinter>(label, epochs));
          return printers.back()->callbacks();
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
