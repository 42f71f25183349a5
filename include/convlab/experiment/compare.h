// The notebook's experiment: the standard network against the same network on channel-summed
// images, trained with one recipe and seed, side by side (one thread each), over one or more
// seeds. Writes per-run checkpoints and metrics, the combined metrics.json, the loss curves and
// the accuracy bars.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "convlab/data/dataset.h"
#include "convlab/train/trainer.h"

namespace convlab::experiment {

struct CompareOptions {
  train::Recipe recipe;  // model is set per run
  std::vector<std::string> models = {"standard", "sumfirst"};
  int64_t seeds = 1;  // recipe.seed, recipe.seed + 1, ...
  std::string out_dir = "runs/compare";
  bool parallel = true;       // the models side by side, one thread each
  int threads_per_model = 1;  // kernel threads inside each model's run
  // An MPI job's processes (train/communicator.h): every run data-parallel over them, one run
  // after another (parallel is ignored); only process 0 writes. Null: one process.
  train::Communicator* comm = nullptr;
};

struct ModelSummary {
  std::string model;
  std::vector<double> accuracies;               // one per seed
  std::vector<double> mean_loss_per_epoch;      // averaged over seeds
  std::vector<double> mean_per_class_accuracy;  // averaged over seeds
  double mean_accuracy() const;
  double sd_accuracy() const;  // sample standard deviation (0 for one seed)
};

// Progress of each run: the callbacks receive the run's label ("standard seed 0").
using ProgressFactory = std::function<train::Progress(const std::string& label, int64_t epochs)>;

std::vector<ModelSummary> compare(const CompareOptions& options, const data::Dataset& train,
                                  const data::Dataset& test, const ProgressFactory& progress = {});

// The summary table as text: model, mean +- sd accuracy, per-seed accuracies, final loss.
std::string summary_table(const std::vector<ModelSummary>& summaries);

}  // namespace convlab::experiment
