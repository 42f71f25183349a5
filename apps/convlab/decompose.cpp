// convlab decompose: one filter's output as the sum of per-input-channel convolutions plus bias,
// checked against the layer's own output; the maps as pictures.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "commands.h"
#include "convlab/experiment/decompose.h"
#include "convlab/report/figure.h"
#include "options.h"

namespace convlab::cli {

void add_decompose(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string data = default_data_dir(), out, layer = "0";
    int64_t filter = 0, image = 0;
    bool without_bias = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "decompose",
      "Show that a conv filter's output is the sum of one kernel per input channel plus the bias");
  f->model.add_to(cmd);
  cmd->add_option("--layer", f->layer,
                  "A Conv2d layer: its index, or its dotted name inside containers (3.body.0), as "
                  "inspect lists them")
      ->capture_default_str();
  add_int_flag<int64_t>(cmd, "--filter", f->filter, 0, 1000000000,
                        "Output channel (filter) of that layer");
  add_int_flag<int64_t>(cmd, "--image", f->image, 0, 1000000000, "Index of the test image");
  add_path_flag(cmd, "--data", f->data, "Data directory");
  add_path_flag(cmd, "--out", f->out, "Write the contribution maps and the sum as PNGs here");
  cmd->add_flag("--without-bias", f->without_bias,
                "Leave the bias out of the sum (the check then fails)");
  cmd->callback([f] {
    if (f->layer.empty()) throw ValueError("--layer: expected a layer name such as 0 or 3.body.0");
    if (!f->out.empty()) ensure_directory(f->out);
    auto model = f->model.load();
    const auto test = data::load_dataset(f->data, false);
    int64_t label = 0;
    const Tensor x = image_from(test, f->image, &label);
    nn::check_model(*model, x.shape(), static_cast<int64_t>(test.classes.size()));
    const auto d = experiment::decompose(*model, x, f->layer, f->filter, !f->without_bias);

    const bool rgb = d.layer == "0" && d.contributions.size() == 3;
    auto channel_name = [&](size_t c) {
      return rgb ? std::string(1, "RGB"[c]) : "channel " + std::to_string(c);
    };
    std::printf("%s, layer %s %s, filter %lld, test image %lld (%s)\n", f->model.describe().c_str(),
                d.layer.c_str(), d.layer_repr.c_str(), static_cast<long long>(f->filter),
                static_cast<long long>(f->image), test.classes[static_cast<size_t>(label)].c_str());
    for (size_t c = 0; c < d.contributions.size(); ++c) {
      const Tensor& m = d.contributions[c];
      float lo = m.data()[0], hi = lo;
      for (int64_t i = 0; i < m.numel(); ++i)
        lo = std::min(lo, m.data()[i]), hi = std::max(hi, m.data()[i]);
      std::printf("  %-11s contribution  %s  min %+.4f  max %+.4f\n", channel_name(c).c_str(),
                  to_string(m.shape()).c_str(), lo, hi);
    }
    std::printf("  bias %+.6f %s\n", d.bias, d.bias_included ? "" : "(left out of the sum)");
    std::printf(
        "sum of contributions%s == layer output for filter %lld: %s (largest absolute difference "
        "%.3g)\n",
        d.bias_included ? " + bias" : "", static_cast<long long>(f->filter),
        d.matches ? "True" : "False", d.max_abs_diff);
    if (f->out.empty()) return;
    const int64_t h = d.combined.size(2), w = d.combined.size(3);
    for (size_t c = 0; c < d.contributions.size(); ++c)
      report::write_heatmap_png(f->out + "/contribution_" + std::to_string(c) + ".png",
                                d.contributions[c].data(), h, w, channel_name(c) + " contribution");
    report::write_heatmap_png(f->out + "/summed.png", d.combined.data(), h, w,
                              "Summed (filter " + std::to_string(f->filter) + " output)");
    report::write_heatmap_png(f->out + "/layer_output.png", d.layer_output.data(), h, w,
                              "Layer output, filter " + std::to_string(f->filter));
    std::printf("wrote %zu pictures to %s\n", d.contributions.size() + 2, f->out.c_str());
  });
}

}  // namespace convlab::cli
