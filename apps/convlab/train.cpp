// convlab train: one training run with per-epoch loss, time and test accuracy; checkpoint and
// metrics.json in --out after every epoch; --resume continues a run.
#include <algorithm>
#include <iostream>
#include <thread>

#include "commands.h"
#include "convlab/data/dataset.h"
#include "options.h"
#include "progress.h"

namespace convlab::cli {

void add_train(CLI::App& app) {
  struct Flags {
    train::Recipe recipe;
    std::string data = default_data_dir();
    std::string out = "runs/train";
    std::string resume;
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "train", "Train a model (standard, sumfirst or a model file) on CIFAR-10 or MNIST");
  cmd->add_option("--model", f->recipe.model, "standard, sumfirst, or a model file")
      ->capture_default_str();
  cmd->add_option("--data", f->data, "Data directory (CIFAR-10 binary or MNIST idx)")
      ->capture_default_str();
  cmd->add_option("--out", f->out, "Output directory: checkpoint.bin, metrics.json")
      ->capture_default_str();
  cmd->add_option("--resume", f->resume, "Continue from this checkpoint (to --epochs in all)");
  cmd->add_option("--threads", f->threads, "Threads (results are identical at any count)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  add_recipe_options(cmd, f->recipe);
  cmd->callback([f, cmd] {
    const auto train_set = data::load_dataset(f->data, true);
    const auto test_set = data::load_dataset(f->data, false);
    std::unique_ptr<train::Trainer> trainer;
    if (!f->resume.empty()) {
      const int64_t epochs = cmd->count("--epochs") ? f->recipe.epochs : 0;
      trainer = train::Trainer::resume(f->resume, train_set, test_set, epochs, f->threads);
      std::cout << "resuming " << f->resume << " after epoch " << trainer->history().size() << "\n";
    } else {
      trainer = std::make_unique<train::Trainer>(f->recipe, train_set, test_set, f->threads);
    }
    const auto& r = trainer->recipe();
    std::cout << "training " << r.model << " on " << train_set.name << " (" << train_set.size()
              << " images), " << r.epochs << " epochs, batch " << r.batch_size << ", "
              << r.optimizer << " lr " << r.lr << ", seed " << r.seed << ", " << f->threads
              << " thread" << (f->threads > 1 ? "s" : "") << "\n";
    ProgressPrinter printer("", r.epochs);
    trainer->fit(f->out, printer.callbacks());
    const auto& ev = trainer->test_evaluation();
    std::printf(
        "test accuracy %.4f (%lld/%lld) on %s\nwrote %s/checkpoint.bin and %s/metrics.json\n",
        ev.accuracy(), static_cast<long long>(ev.correct()), static_cast<long long>(ev.total()),
        test_set.name.c_str(), f->out.c_str(), f->out.c_str());
  });
}

}  // namespace convlab::cli
