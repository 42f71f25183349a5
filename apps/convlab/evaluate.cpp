// convlab evaluate: a checkpoint's accuracy, per-class accuracy and confusion matrix on a test set.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "convlab/nn/models.h"
#include "options.h"

namespace convlab::cli {

void add_evaluate(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string normalize, data = default_data_dir();
    bool json = false;
    int64_t batch_size = 256;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd =
      app.add_subcommand("evaluate",
                         "Accuracy, per-class accuracy and confusion matrix of a checkpoint, "
                         "or of a model file with --weights");
  f->model.add_to(cmd);
  cmd->add_option_function<std::string>(
         "--normalize",
         [f](const std::string& t) {
           try {
             data::Transform::parse("", t);
           } catch (const Error& e) {
             throw CLI::ValidationError("--normalize", e.what());
           }
           f->normalize = t;
         },
         "Normalize(mean, std) as the weights were trained with (a checkpoint keeps its own)")
      ->excludes("--checkpoint");
  add_path_flag(cmd, "--data", f->data, "Data directory (its test split is used)");
  add_int_flag<int64_t>(cmd, "--batch-size", f->batch_size, 1, 1000000, "Images per batch");
  cmd->add_flag("--json", f->json, "Machine-readable output");
  cmd->callback([f] {
    if (f->model.checkpoint.empty() && f->model.weights.empty() && !f->model.is_onnx())
      throw CLI::RequiredError("--checkpoint, --model FILE.onnx, or --model with --weights,");
    std::shared_ptr<nn::Sequential> model;
    std::string normalize_text = f->normalize;
    if (!f->model.checkpoint.empty()) {
      const auto checkpoint = train::load_checkpoint(f->model.checkpoint);
      model = train::load_model(checkpoint);
      // The images are normalised as in training (the recipe the checkpoint keeps).
      const auto& recipe = checkpoint.header.value("recipe", nlohmann::json::object());
      if (recipe.is_object() && recipe.value("normalize", nlohmann::json("")).is_string())
        normalize_text = recipe.value("normalize", std::string());
    } else {
      model = f->model.load();
    }
    const auto test = data::load_dataset(f->data, false);
    nn::check_model(*model, {f->batch_size, test.channels, test.height, test.width},
                    static_cast<int64_t>(test.classes.size()));
    const data::Transform normalize = data::Transform::parse("", normalize_text);
    const train::Evaluation ev = train::evaluate(*model, test, f->batch_size, &normalize);
    if (f->json) {
      auto j = ev.to_json(test.classes);
      if (!f->model.checkpoint.empty()) j["checkpoint"] = f->model.checkpoint;
      if (f->model.checkpoint.empty()) {
        j["model"] = f->model.model;
        if (!f->model.weights.empty()) j["weights"] = f->model.weights;
      }
      j["data"] = test.name;
      std::cout << j.dump(2) << "\n";
      return;
    }
    std::printf("%s on %s: accuracy %.4f (%lld/%lld)\n\nper-class accuracy:\n",
                (f->model.checkpoint.empty() ? f->model.describe() : f->model.checkpoint).c_str(),
                test.name.c_str(), ev.accuracy(), static_cast<long long>(ev.correct()),
                static_cast<long long>(ev.total()));
    const auto acc = ev.per_class_accuracy();
    for (size_t i = 0; i < acc.size(); ++i)
      std::printf("  %-12s %.4f\n", test.classes[i].c_str(), acc[i]);
    std::printf("\nconfusion matrix (rows: true class, columns: predicted):\n%12s", "");
    for (size_t c = 0; c < acc.size(); ++c) std::printf(" %5.5s", test.classes[c].c_str());
    std::printf("\n");
    for (size_t r = 0; r < acc.size(); ++r) {
      std::printf("%12s", test.classes[r].c_str());
      for (int64_t v : ev.confusion[r]) std::printf(" %5lld", static_cast<long long>(v));
      std::printf("\n");
    }
  });
}

}  // namespace convlab::cli
