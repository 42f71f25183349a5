#include "convlab/experiment/compare.h"

#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <thread>

#include "convlab/data/dataloader.h"
#include "convlab/error.h"
#include "convlab/experiment/decompose.h"
#include "convlab/experiment/layer_table.h"
#include "convlab/experiment/pictures.h"
#include "convlab/io/file.h"
#include "convlab/nn/conv2d.h"
#include "convlab/report/figure.h"
#include "convlab/report/html_report.h"
#include "convlab/report/panels.h"
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
  std::vector<double> per_class;
  std::shared_ptr<nn::Sequential> model;  // trained
  std::exception_ptr error;
};

void run_one(const train::Recipe& recipe, const data::Dataset& train, const data::Dataset& test,
             const std::string& out_dir, int threads, train::Progress progress,
             train::Communicator* comm, RunResult& result) {
  try {
    train::Trainer trainer(recipe, train, test, threads);
    if (comm) trainer.distribute(*comm);
    trainer.fit(out_dir, progress);
    result.history = trainer.history();
    const train::Evaluation& ev = trainer.test_evaluation();
    result.accuracy = ev.accuracy();
    result.per_class = ev.per_class_accuracy();
    result.model = trainer.shared_model();
  } catch (...) {
    result.error = std::current_exception();
  }
}

std::string label_of(const std::string& model) {
  return model == "standard" ? "Standard (RGB)" : (model == "sumfirst" ? "Sum-first" : model);
}

// Sentences for the report, every number taken from the results.
std::vector<std::string> findings(const std::vector<ModelSummary>& s, int64_t seeds) {
  std::vector<std::string> out;
  char b[512];
  const std::string over = seeds > 1 ? " over " + std::to_string(seeds) + " seeds" : "";
  for (const auto& m : s) {
    std::snprintf(
        b, sizeof b, "%s reached a test accuracy of %.3f%s%s.", label_of(m.model).c_str(),
        m.mean_accuracy(),
        seeds > 1 ? (" \u00b1 " + std::to_string(m.sd_accuracy()).substr(0, 5)).c_str() : "",
        over.c_str());
    out.push_back(b);
  }
  if (s.size() == 2) {
    const bool first_wins = s[0].mean_accuracy() >= s[1].mean_accuracy();
    const auto& win = first_wins ? s[0] : s[1];
    const auto& lose = first_wins ? s[1] : s[0];
    int wins = 0;
    for (size_t i = 0; i < win.accuracies.size(); ++i)
      wins += win.accuracies[i] > lose.accuracies[i];
    std::snprintf(b, sizeof b,
                  "%s is better by %.1f points of test accuracy (it won %d of %zu seeds).",
                  label_of(win.model).c_str(), 100 * (win.mean_accuracy() - lose.mean_accuracy()),
                  wins, win.accuracies.size());
    out.push_back(b);
    const double lw = win.mean_loss_per_epoch.back(), ll = lose.mean_loss_per_epoch.back();
    if (ll < lw)
      std::snprintf(
          b, sizeof b,
          "%s ended with the lower training loss (%.3f against %.3f) yet tests worse: it fits the "
          "training images more closely without generalising better.",
          label_of(lose.model).c_str(), ll, lw);
    else
      std::snprintf(b, sizeof b, "%s also ended with the lower training loss (%.3f against %.3f).",
                    label_of(win.model).c_str(), lw, ll);
    out.push_back(b);
    if (win.model == "standard")
      out.push_back(
          "Each filter of the standard network has one kernel per colour channel and can weigh "
          "red, green and blue "
          "differently; summing the channels first leaves one kernel for their sum, so colour "
          "cannot be told apart.");
  }
  return out;
}

void write_report(const CompareOptions& o, const data::Dataset& train, const data::Dataset& test,
                  const std::vector<ModelSummary>& summaries,
                  const std::vector<std::shared_ptr<nn::Sequential>>& models) {
  const std::string& dir = o.out_dir;
  std::vector<int64_t> samples;
  for (int64_t i = 0; i < std::min<int64_t>(8, test.size()); ++i) samples.push_back(i);
  report::write_panel_grid_png(dir + "/samples.png", sample_panels(test, samples), 4, "Test images",
                               160);
  const std::vector<int64_t> three(samples.begin(),
                                   samples.begin() + std::min<size_t>(3, samples.size()));
  report::write_panel_grid_png(dir + "/summed.png", summed_panels(test, three), 2,
                               "Original and channel-summed", 200);

  int64_t index = 0;
  Tensor image;
  std::vector<int64_t> label;
  data::gather_batch(test, &index, 1, image, label);
  nlohmann::json tables = nlohmann::json::array();
  for (size_t i = 0; i < models.size(); ++i)
    tables.push_back({{"model", label_of(o.models[i])}, {"rows", layer_table(*models[i], image)}});

  // The first conv layer of the first model, filter 0, test image 0.
  nlohmann::json decomposition = {{"text", "No convolution layer to decompose."},
                                  {"figures", nlohmann::json::array()}};
  for (size_t l = 0; l < models[0]->size(); ++l) {
    if (!dynamic_cast<const nn::Conv2d*>(&(*models[0])[l])) continue;
    const auto d = decompose(*models[0], image, l, 0);
    const bool rgb = d.contributions.size() == 3;
    nlohmann::json figs = nlohmann::json::array();
    const int64_t h = d.combined.size(2), w = d.combined.size(3);
    for (size_t c = 0; c < d.contributions.size(); ++c) {
      const std::string name = rgb ? std::string(1, "RGB"[c]) : "channel " + std::to_string(c);
      const std::string file = "decompose_" + std::to_string(c) + ".png";
      report::write_heatmap_png(dir + "/" + file, d.contributions[c].data(), h, w,
                                name + " contribution");
      figs.push_back({{"file", file}, {"caption", name + " contribution"}});
    }
    report::write_heatmap_png(dir + "/decompose_sum.png", d.combined.data(), h, w,
                              "Summed (filter 0 output)");
    figs.push_back({{"file", "decompose_sum.png"}, {"caption", "Summed (filter 0 output)"}});
    char b[512];
    std::snprintf(
        b, sizeof b,
        "Filter 0 of layer %zu of the trained %s model on test image 0 (%s): each input channel "
        "convolved with its own kernel, the %zu maps summed and the bias (%+.4f) added, equals the "
        "layer's "
        "own output: %s (largest absolute difference %.2g).",
        l, label_of(o.models[0]).c_str(), test.classes[static_cast<size_t>(label[0])].c_str(),
        d.contributions.size(), d.bias, d.matches ? "True" : "False", d.max_abs_diff);
    decomposition = {{"text", b}, {"figures", figs}};
    break;
  }

  nlohmann::json models_json = nlohmann::json::array();
  for (const auto& s : summaries) {
    nlohmann::json per_class = nlohmann::json::object();
    for (size_t k = 0; k < s.mean_per_class_accuracy.size() && k < test.classes.size(); ++k)
      per_class[test.classes[k]] = s.mean_per_class_accuracy[k];
    models_json.push_back({{"label", label_of(s.model)},
                           {"mean_test_accuracy", s.mean_accuracy()},
                           {"sd_test_accuracy", s.sd_accuracy()},
                           {"test_accuracies", s.accuracies},
                           {"per_class_accuracy", per_class}});
  }
  const std::string over = o.seeds > 1 ? " (mean of " + std::to_string(o.seeds) + " seeds)" : "";
  report::write_html_report(
      dir + "/report.html",
      {{"title", "Standard vs sum-first convolution on " + train.name},
       {"sentences", findings(summaries, o.seeds)},
       {"recipe", o.recipe.to_json()},
       {"seeds", o.seeds},
       {"train_data", train.name + ", " + std::to_string(train.size()) + " images"},
       {"test_data", test.name + ", " + std::to_string(test.size()) + " images"},
       {"models", models_json},
       {"figures",
        {{{"file", "loss_curves.png"}, {"caption", "Training loss per epoch" + over}},
         {{"file", "accuracy.png"}, {"caption", "Test accuracy" + over}}}},
       {"layer_tables", tables},
       {"decomposition", decomposition},
       {"image_figures",
        {{{"file", "samples.png"}, {"caption", "Test images with their classes"}},
         {{"file", "summed.png"},
          {"caption", "What sum-first sees: each image's three channels added"}}}}});
}

}  // namespace

std::vector<ModelSummary> compare(const CompareOptions& o, const data::Dataset& train,
                                  const data::Dataset& test, const ProgressFactory& progress) {
  if (o.seeds <= 0)
    throw ValueError("compare: the number of seeds must be positive; got " +
                     std::to_string(o.seeds));
  if (o.recipe.epochs <= 0)
    throw ValueError("compare: epochs must be positive to draw loss curves");
  const bool writer = !o.comm || o.comm->rank() == 0;
  if (writer) ensure_directory(o.out_dir);

  std::vector<ModelSummary> summaries;
  for (const auto& m : o.models)
    summaries.push_back({m, {}, std::vector<double>(static_cast<size_t>(o.recipe.epochs)), {}});
  nlohmann::json runs = nlohmann::json::array();
  std::vector<std::shared_ptr<nn::Sequential>> first_models(
      o.models.size());  // trained, first seed
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
      if (o.parallel && !o.comm)
        threads.emplace_back(run_one, r, std::cref(train), std::cref(test), dir,
                             o.threads_per_model, p, nullptr, std::ref(results[i]));
      else {
        run_one(r, train, test, dir, o.threads_per_model, p, o.comm, results[i]);
        // In a job, the other processes are in this run's collectives: stop here, not after
        // the next model's first (mismatched) one.
        if (o.comm && results[i].error) std::rethrow_exception(results[i].error);
      }
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].error) std::rethrow_exception(results[i].error);
      summaries[i].accuracies.push_back(results[i].accuracy);
      summaries[i].mean_per_class_accuracy.resize(results[i].per_class.size());
      for (size_t k = 0; k < results[i].per_class.size(); ++k)
        summaries[i].mean_per_class_accuracy[k] +=
            results[i].per_class[k] / static_cast<double>(o.seeds);
      if (s == 0) first_models[i] = results[i].model;
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

  if (!writer) return summaries;
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
  write_report(o, train, test, summaries, first_models);
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
