// convlab inspect: one image through the network, each layer's output shape and parameter count.
#include <cstdio>
#include <iostream>

#include "commands.h"
#include "options.h"

namespace convlab::cli {

void add_inspect(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string data = default_data_dir();
    int64_t image = 0;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "inspect", "Pass one image through a model: each layer's output shape and size");
  f->model.add_to(cmd);
  cmd->add_option("--data", f->data, "Data directory (an image of its test split is used)")
      ->capture_default_str();
  cmd->add_option("--image", f->image, "Index of the test image")->capture_default_str();
  cmd->add_flag("--json", f->json, "Machine-readable output");
  cmd->callback([f] {
    auto model = f->model.load();
    const auto test = data::load_dataset(f->data, false);
    const Tensor x = image_from(test, f->image);
    nn::check_model(*model, x.shape(), static_cast<int64_t>(test.classes.size()));
    model->forward(x);
    nlohmann::json layers = nlohmann::json::array();
    int64_t total = 0;
    for (size_t i = 0; i < model->size(); ++i) {
      int64_t count = 0;
      for (auto* p : (*model)[i].parameters()) count += p->value.numel();
      total += count;
      layers.push_back({{"index", i},
                        {"type", (*model)[i].type_name()},
                        {"layer", (*model)[i].repr()},
                        {"output_shape", model->activation(i).shape()},
                        {"parameters", count}});
    }
    if (f->json) {
      std::cout << nlohmann::json{{"model", f->model.describe()},
                                  {"input_shape", x.shape()},
                                  {"layers", layers},
                                  {"total_parameters", total}}
                       .dump(2)
                << "\n";
      return;
    }
    std::printf("%s, input %s (test image %lld of %s)\n\n", f->model.describe().c_str(),
                to_string(x.shape()).c_str(), static_cast<long long>(f->image), test.name.c_str());
    std::printf("%-3s %-11s %-18s %10s   %s\n", "#", "layer", "output shape", "parameters",
                "definition");
    for (const auto& l : layers)
      std::printf("%-3d %-11s %-18s %10lld   %s\n", l["index"].get<int>(),
                  l["type"].get<std::string>().c_str(),
                  to_string(l["output_shape"].get<Shape>()).c_str(),
                  l["parameters"].get<long long>(), l["layer"].get<std::string>().c_str());
    std::printf("\ntotal parameters: %lld\n", static_cast<long long>(total));
  });
}

}  // namespace convlab::cli
