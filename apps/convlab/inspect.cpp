// convlab inspect: one image through the network, each layer's output shape and parameter count.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "convlab/experiment/layer_table.h"
#include "convlab/experiment/pictures.h"
#include "options.h"

namespace convlab::cli {

void add_inspect(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string data = default_data_dir();
    int64_t image = 0;
    bool json = false;
    std::string out;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "inspect", "Pass one image through a model: each layer's output shape and size");
  f->model.add_to(cmd);
  add_path_flag(cmd, "--data", f->data, "Data directory (an image of its test split is used)");
  add_int_flag<int64_t>(cmd, "--image", f->image, 0, 1000000000, "Index of the test image");
  cmd->add_flag("--json", f->json, "Machine-readable output");
  add_path_flag(cmd, "--out", f->out,
                "Also write pictures here: each layer's output channels, each conv's kernels");
  cmd->callback([f] {
    if (!f->out.empty()) ensure_directory(f->out);
    auto model = f->model.load();
    const auto test = data::load_dataset(f->data, false);
    const Tensor x = image_from(test, f->image);
    nn::check_model(*model, x.shape(), static_cast<int64_t>(test.classes.size()));
    const nlohmann::json layers = experiment::layer_table(*model, x);
    int64_t total = 0;
    for (const auto& l : layers)
      if (l["depth"] == 0) total += l["parameters"].get<int64_t>();
    int pictures = 0;
    if (!f->out.empty()) {
      for (size_t i = 0; i < model->size(); ++i) {
        const std::string stem =
            f->out + "/layer" + std::to_string(i) + "_" + (*model)[i].type_name();
        if (model->activation(i).dim() == 4) {
          const auto panels = experiment::channel_panels(model->activation(i));
          report::write_panel_grid_png(
              stem + "_channels.png", panels, std::min<int>(8, static_cast<int>(panels.size())),
              "layer " + std::to_string(i) + " " + (*model)[i].type_name() + " output");
          ++pictures;
        }
        if (const auto* conv = dynamic_cast<const nn::Conv2d*>(&(*model)[i])) {
          const auto panels = experiment::kernel_panels(*conv);
          report::write_panel_grid_png(
              stem + "_kernels.png", panels, static_cast<int>(conv->options().in_channels()),
              "layer " + std::to_string(i) + " kernels (one row per filter)", 90);
          ++pictures;
        }
      }
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
    size_t width = 3;  // the name column fits the longest dotted name, indented by depth
    for (const auto& l : layers)
      width = std::max(width, l["index"].get<std::string>().size() + 2 * l["depth"].get<size_t>());
    std::printf("%-*s %-17s %-18s %10s   %s\n", static_cast<int>(width), "#", "layer",
                "output shape", "parameters", "definition");
    for (const auto& l : layers) {
      const std::string name =
          std::string(2 * l["depth"].get<size_t>(), ' ') + l["index"].get<std::string>();
      std::printf("%-*s %-17s %-18s %10lld   %s\n", static_cast<int>(width), name.c_str(),
                  l["type"].get<std::string>().c_str(),
                  to_string(l["output_shape"].get<Shape>()).c_str(),
                  l["parameters"].get<long long>(), l["layer"].get<std::string>().c_str());
    }
    std::printf("\ntotal parameters: %lld\n", static_cast<long long>(total));
    if (pictures) std::printf("wrote %d pictures to %s\n", pictures, f->out.c_str());
  });
}

}  // namespace convlab::cli
