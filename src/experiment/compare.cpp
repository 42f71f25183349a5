#include "convlab/experiment/compare.h"

#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <thread>

#include "convlab/error.h"
#include "convlab/report/atomic_file.h"
#include "convlab/report/plots.h"

namespace convlab::experiment {

double ModelSummary::mean_accuracy() const {
  double s = 0;
  for (double a : accuracies) s += a;
  return accuracies.empty() ? 0.0 : s / static_cast<double>(accuracies.size());
}

double ModelSummary::sd_accuracy() const {
  if (accuracies.size() < 2) return 0.0;
  const double m = mean_accuracy();
  double ss = 0;
  for (double a : accuracies) ss += (a - m) * (a - m);
  return std::sqrt(ss / static_cast<double>(accuracies.size() - 1));
}

namespace {

struct RunResult {
  std::vector<train::EpochRecord> history;
  double accuracy = 0;
  std::exception_ptr error;
};

void run_one(const train::Recipe& recipe, const data::Dataset& train, const data::Dataset& test,
             const std::string& out_dir, int threads, train::Progress progress, RunResult& result) {
  try {
    train::Trainer trainer(recipe, train, test, threads);
    trainer.fit(out_dir, progress);
    result.history = trainer.history();
    result.accuracy = result.history.empty() ? trainer.evaluate(test).accuracy()
                                             : result.history.back().test_accuracy;
  } catch (...) {
    result.error = std::current_exception();
  }
}

}  // namespace

std::vector<ModelSummary> compare(const CompareOptions& o, const data::Dataset& train,
                                  const data::Dataset& test, const ProgressFactory& progress) {
  if (o.seeds <= 0)
    throw ValueError("compare: the number of seeds must be positive; got " +
                     std::to_string(o.seeds));
  if (o.recipe.epochs <= 0)
    throw ValueError("compare: epochs must be positive to draw loss curves");
  std::error_code ec;
  std::filesystem::create_directories(o.out_dir, ec);
  if (ec) throw IoError("cannot create output directory " + o.out_dir + ": " + ec.message());

  std::vector<ModelSummary> summaries;
  for (const auto& m : o.models)
    summaries.push_back({m, {}, std::vector<double>(static_cast<size_t>(o.recipe.epochs))});
  nlohmann::json runs = nlohmann::json::array();
  for (int64_t s = 0; s < o.seeds; ++s) {
    std::vector<RunResult> results(o.models.size());
    std::vector<std::thread> threads;
    for (size_t i = 0; i < o.models.size(); ++i) {
      train::Recipe r = o.recipe;
      r.model = o.models[i];
      r.seed = o.recipe.seed + static_cast<uint64_t>(s);
      const std::string label = o.models[i] + " seed " + std::to_string(r.seed);
      const std::string dir = o.out_dir + "/seed" + std::to_string(r.seed) + "/" + o.models[i];
      train::Progress p = progress ? progress(label, r.epochs) : train::Progress{};
      if (o.parallel)
        threads.emplace_back(run_one, r, std::cref(train), std::cref(test), dir,
                             o.threads_per_model, p, std::ref(results[i]));
      else
        run_one(r, train, test, dir, o.threads_per_model, p, results[i]);
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].error) std::rethrow_exception(results[i].error);
      summaries[i].accuracies.push_back(results[i].accuracy);
      nlohmann::json losses = nlohmann::json::array();
      for (size_t e = 0; e < results[i].history.size(); ++e) {
        summaries[i].mean_loss_per_epoch[e] +=
            results[i].history[e].loss / static_cast<double>(o.seeds);
        losses.push_back(results[i].history[e].loss);
      }
      runs.push_back({{"model", o.models[i]},
                      {"seed", o.recipe.seed + static_cast<uint64_t>(s)},
                      {"test_accuracy", results[i].accuracy},
                      {"loss_per_epoch", losses}});
    }
  }

  // Figures: mean loss per epoch, and mean accuracy per model with its value on the bar.
  std::vector<report::Series> curves;
  std::vector<std::string> labels;
  std::vector<double> accs;
  for (const auto& s : summaries) {
    report::Series c{
        s.model == "standard" ? "Standard (RGB)" : (s.model == "sumfirst" ? "Sum-first" : s.model),
        {},
        {}};
    for (size_t e = 0; e < s.mean_loss_per_epoch.size(); ++e) {
      c.x.push_back(static_cast<double>(e + 1));
      c.y.push_back(s.mean_loss_per_epoch[e]);
    }
    labels.push_back(c.label);
    accs.push_back(s.mean_accuracy());
    curves.push_back(std::move(c));
  }
  const std::string over = o.seeds > 1 ? " (mean of " + std::to_string(o.seeds) + " seeds)" : "";
  report::write_line_plot(o.out_dir + "/loss_curves.png", "Training Loss per Epoch" + over, "Epoch",
                          "Loss", curves);
  report::write_bar_chart(o.out_dir + "/accuracy.png", "Test Accuracy" + over, "Accuracy", labels,
                          accs, 1.0);

  nlohmann::json models = nlohmann::json::array();
  for (const auto& s : summaries)
    models.push_back({{"model", s.model},
                      {"mean_test_accuracy", s.mean_accuracy()},
                      {"sd_test_accuracy", s.sd_accuracy()},
                      {"test_accuracies", s.accuracies},
                      {"mean_loss_per_epoch", s.mean_loss_per_epoch}});
  const nlohmann::json metrics = {{"experiment", "sum-first vs standard"},
                                  {"recipe", o.recipe.to_json()},
                                  {"seeds", o.seeds},
                                  {"train_data", {{"name", train.name}, {"images", train.size()}}},
                                  {"test_data", {{"name", test.name}, {"images", test.size()}}},
                                  {"models", models},
                                  {"runs", runs}};
  write_file_atomically(o.out_dir + "/metrics.json", metrics.dump(2) + "\n");
  write_file_atomically(o.out_dir + "/summary.txt", summary_table(summaries));
  return summaries;
}

std::string summary_table(const std::vector<ModelSummary>& summaries) {
  std::string t =
      "model       test accuracy (mean +- sd)   per seed                          final loss\n";
  for (const auto& s : summaries) {
    char head[96];
    std::snprintf(head, sizeof head, "%-11s %.3f +- %.3f                ", s.model.c_str(),
                  s.mean_accuracy(), s.sd_accuracy());
    std::string seeds;
    for (double a : s.accuracies) {
      char b[16];
      std::snprintf(b, sizeof b, "%.3f ", a);
      seeds += b;
    }
    char tail[32];
    std::snprintf(tail, sizeof tail, "%.4f",
                  s.mean_loss_per_epoch.empty() ? 0.0 : s.mean_loss_per_epoch.back());
    seeds.resize(std::max<size_t>(seeds.size(), 34), ' ');
    t += std::string(head) + seeds + tail + "\n";
  }
  return t;
}

}  // namespace convlab::experiment
