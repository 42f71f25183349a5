// convlab train: one training run with per-epoch loss, time and test accuracy; checkpoint and
// metrics.json in --out after every epoch; --resume continues a run.
#include <algorithm>
#include <iostream>
#include <thread>

#include "commands.h"
#include "convlab/data/dataset.h"
#include "convlab/train/run_directory.h"
#include "interrupt.h"
#include "options.h"
#include "progress.h"

namespace convlab::cli {

void add_train(CLI::App& app) {
  struct Flags {
    train::Recipe recipe;
    std::string data = default_data_dir();
    std::string out = "runs/train";
    std::string resume;
    bool overwrite = false;
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "train", "Train a model (standard, sumfirst or a model file) on CIFAR-10 or MNIST");
  add_path_flag(cmd, "--model", f->recipe.model, "standard, sumfirst, or a model file");
  add_path_flag(cmd, "--data", f->data, "Data directory (CIFAR-10 binary or MNIST idx)");
  add_path_flag(cmd, "--out", f->out, "Output directory: checkpoint.bin, metrics.json");
  add_path_flag(cmd, "--resume", f->resume, "Continue from this checkpoint (to --epochs in all)");
  add_path_flag(cmd, "--weights", f->recipe.weights,
                "Start from these weights (a PyTorch state_dict in .safetensors): fine-tuning")
      ->excludes("--resume");
  add_int_flag<int>(cmd, "--threads", f->threads, 1, 256,
                    "Threads (results are identical at any count)");
  add_recipe_options(cmd, f->recipe);
  cmd->add_flag("--overwrite", f->overwrite, "Replace a run that --out already holds");
  cmd->callback([f, cmd] {
    StopOnSignal stop_on_signal;  // from here on, Ctrl-C stops at the next safe point
    if (f->resume.empty() && f->recipe.epochs == 0) {
      std::cout << "--epochs 0: nothing to train; nothing written\n";
      return;
    }
    const auto train_set = data::load_dataset(f->data, true);
    const auto test_set = data::load_dataset(f->data, false);
    std::unique_ptr<train::Trainer> trainer;
    train::RunMode mode = f->overwrite ? train::RunMode::overwrite : train::RunMode::fresh;
    if (!f->resume.empty()) {
      const int64_t epochs = cmd->count("--epochs") ? f->recipe.epochs : 0;
      trainer = train::Trainer::resume(f->resume, train_set, test_set, epochs, f->threads);
      if (cmd->count("--chunk-size"))
        throw ValueError("--chunk-size cannot change on --resume: the run keeps its chunk size (" +
                         std::to_string(trainer->recipe().chunk_size) + ")");
      const int64_t done = static_cast<int64_t>(trainer->history().size());
      if (done >= trainer->recipe().epochs) {
        std::cout << excerpt(f->resume) << " holds epoch " << done << " of "
                  << trainer->recipe().epochs << ": nothing to train; nothing written\n";
        return;
      }
      // Continuing the run that --out holds is what --resume is for.
      if (same_file(f->resume, f->out + "/checkpoint.bin")) mode = train::RunMode::resume;
      std::cout << "resuming " << excerpt(f->resume) << " after epoch " << done << "\n";
    } else {
      // PyTorch's AdamW decays by 0.01 unless told otherwise.
      if (f->recipe.optimizer == "adamw" && !cmd->count("--weight-decay"))
        f->recipe.weight_decay = 0.01;
      if (train::launched_by_mpirun() && !cmd->count("--chunk-size"))
        f->recipe.chunk_size = kDefaultChunkUnderMpirun;
      trainer = std::make_unique<train::Trainer>(f->recipe, train_set, test_set, f->threads);
    }
    train::Communicator& job = world();
    if (train::launched_by_mpirun()) trainer->distribute(job);
    // Process 0 alone writes the run (and takes its lock).
    const auto lock =
        job.rank() == 0 ? train::prepare_run_directory(f->out, mode) : train::RunLock();
    const auto& r = trainer->recipe();
    std::cout << "training " << excerpt(r.model) << " on " << train_set.name << " ("
              << train_set.size() << " images), " << r.epochs << " epochs, batch " << r.batch_size
              << ", " << r.optimizer << " lr " << r.lr << ", seed " << r.seed << ", " << f->threads
              << " thread" << (f->threads > 1 ? "s" : "")
              << (job.size() > 1 ? " per process, " + std::to_string(job.size()) + " processes"
                                 : "")
              << (r.chunk_size > 0 ? ", chunks of " + std::to_string(r.chunk_size) : "") << "\n";
    ProgressPrinter printer("", r.epochs);
    trainer->fit(f->out, StopOnSignal::with_stop(printer.callbacks()));
    const auto& ev = trainer->test_evaluation();
    std::printf(
        "test accuracy %.4f (%lld/%lld) on %s\nwrote %s/checkpoint.bin and %s/metrics.json\n",
        ev.accuracy(), static_cast<long long>(ev.correct()), static_cast<long long>(ev.total()),
        test_set.name.c_str(), excerpt(f->out).c_str(), excerpt(f->out).c_str());
  });
}

}  // namespace convlab::cli
