// convlab predict: a trained model's top-5 classes and probabilities for image files (PNG, JPEG,
// BMP) or for a whole data set; --json gives every logit and probability.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <thread>

#include "commands.h"
#include "convlab/data/image_file.h"
#include "convlab/nn/registry.h"
#include "convlab/nn/sequential.h"
#include "convlab/ops/parallel.h"
#include "convlab/train/checkpoint.h"
#include "options.h"

namespace convlab::cli {

namespace {

// Softmax in double, the largest logit subtracted first so that exp cannot overflow.
std::vector<double> softmax(const float* logits, int64_t n) {
  double m = logits[0];
  for (int64_t k = 1; k < n; ++k) m = std::max(m, static_cast<double>(logits[k]));
  std::vector<double> p(static_cast<size_t>(n));
  double sum = 0;
  for (int64_t k = 0; k < n; ++k) sum += p[static_cast<size_t>(k)] = std::exp(logits[k] - m);
  for (double& v : p) v /= sum;
  return p;
}

// The model's input channels: its first layer that fixes them (a Conv2d), else 3.
int64_t input_channels(nn::Sequential& model) {
  for (const nn::NamedModule& m : nn::named_modules(model))
    if (m.module->type_name() == "Conv2d")
      return nn::layer_arguments(m.module->repr()).integer("in_channels");
    else if (m.module->type_name() == "ChannelSum")
      return 3;
  return 3;
}

}  // namespace

void add_predict(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::vector<std::string> images;
    std::string data, normalize, size = "32x32";
    bool resize = false, json = false;
    int64_t batch_size = 256, top = 5;
    int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "predict", "Top-5 classes with probabilities for image files (PNG, JPEG, BMP) or a data set");
  f->model.add_to(cmd);
  cmd->add_option("images", f->images, "Image files");
  add_path_flag(cmd, "--data", f->data, "Predict every test image of this data directory");
  cmd->add_flag("--resize", f->resize, "Resize images of another size (bilinear)");
  cmd->add_option("--size", f->size, "The model's input, WIDTHxHEIGHT (default 32x32)");
  cmd->add_option("--normalize", f->normalize,
                  "Normalize(mean, std) as in training (a checkpoint keeps its own)");
  cmd->add_flag("--json", f->json, "Logits and probabilities of every class, as JSON");
  add_int_flag<int64_t>(cmd, "--batch-size", f->batch_size, 1, 1000000, "Images per batch");
  add_int_flag<int>(cmd, "--threads", f->threads, 1, 256, "Threads");
  cmd->callback([f] {
    if (f->images.empty() == f->data.empty())
      throw CLI::ValidationError("predict", "give image files or --data DIR (one of the two)");
    auto model = f->model.load();
    std::string normalize_text = f->normalize;
    if (!f->model.checkpoint.empty()) {
      const auto c = train::load_checkpoint(f->model.checkpoint);
      const auto& recipe = c.header.value("recipe", nlohmann::json::object());
      if (recipe.is_object() && recipe.value("normalize", nlohmann::json("")).is_string())
        normalize_text = recipe.value("normalize", std::string());
    }
    const data::Transform normalize = data::Transform::parse("", normalize_text);
    int64_t width = 0, height = 0;
    int used = 0;
    if (std::sscanf(f->size.c_str(), "%ldx%ld%n", &width, &height, &used) != 2 ||
        used != static_cast<int>(f->size.size()) || width < 1 || height < 1 || width > 65536 ||
        height > 65536)
      throw CLI::ValidationError("--size", "'" + excerpt(f->size) + "' is not WIDTHxHEIGHT");
    ThreadPool pool(f->threads);
    PoolScope scope(&pool);
    nn::InferenceScope inference(*model);
    // The inputs: image files, or a data set's test split (its own size and labels).
    std::vector<std::string> names;
    std::vector<int64_t> labels;
    std::vector<std::string> classes = {"airplane", "automobile", "bird",  "cat",  "deer",
                                        "dog",      "frog",       "horse", "ship", "truck"};
    data::Dataset ds;
    Tensor all;
    if (!f->data.empty()) {
      ds = data::load_dataset(f->data, false);
      classes = ds.classes;
      std::vector<int64_t> idx(static_cast<size_t>(ds.size()));
      for (int64_t i = 0; i < ds.size(); ++i) idx[static_cast<size_t>(i)] = i;
      data::gather_batch(ds, idx.data(), ds.size(), all, labels,
                         normalize.mean.empty() ? nullptr : &normalize);
      for (int64_t i = 0; i < ds.size(); ++i) names.push_back(ds.name + " " + std::to_string(i));
    } else {
      const data::ImageSize want{input_channels(*model), height, width};
      if (!normalize.mean.empty() && static_cast<int64_t>(normalize.mean.size()) != want.channels)
        throw ValueError("--normalize gives " + std::to_string(normalize.mean.size()) +
                         " means; the model takes " + std::to_string(want.channels) + " channels");
      all = Tensor({static_cast<int64_t>(f->images.size()), want.channels, height, width});
      const int64_t per = want.channels * height * width;
      for (size_t i = 0; i < f->images.size(); ++i) {
        const Tensor img = data::read_image(f->images[i], want, f->resize);
        float* dst = all.data() + static_cast<int64_t>(i) * per;
        std::copy(img.data(), img.data() + per, dst);
        if (!normalize.mean.empty())  // Normalize, as the data loader applies it
          for (int64_t c = 0; c < want.channels; ++c)
            for (int64_t k = 0; k < height * width; ++k)
              dst[c * height * width + k] =
                  (dst[c * height * width + k] - normalize.mean[static_cast<size_t>(c)]) /
                  normalize.std[static_cast<size_t>(c)];
        names.push_back(f->images[i]);
      }
    }
    const int64_t n = all.size(0), per = all.numel() / std::max<int64_t>(n, 1);
    nn::check_model(*model, {std::min(n, f->batch_size), all.size(1), all.size(2), all.size(3)},
                    static_cast<int64_t>(classes.size()));
    nlohmann::json out = nlohmann::json::array();
    for (int64_t s = 0; s < n; s += f->batch_size) {
      const int64_t count = std::min(f->batch_size, n - s);
      Tensor batch({count, all.size(1), all.size(2), all.size(3)});
      std::copy(all.data() + s * per, all.data() + (s + count) * per, batch.data());
      const Tensor& logits = model->forward(batch);
      const int64_t k = logits.size(1);
      for (int64_t b = 0; b < count; ++b) {
        const float* row = logits.data() + b * k;
        const std::vector<double> p = softmax(row, k);
        std::vector<int64_t> order(static_cast<size_t>(k));
        for (int64_t c = 0; c < k; ++c) order[static_cast<size_t>(c)] = c;
        std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) {
          return p[static_cast<size_t>(a)] > p[static_cast<size_t>(c)];
        });
        const std::string& name = names[static_cast<size_t>(s + b)];
        if (f->json) {
          nlohmann::json j{{"image", name},
                           {"logits", std::vector<float>(row, row + k)},
                           {"probabilities", p},
                           {"prediction", classes[static_cast<size_t>(order[0])]}};
          if (!labels.empty())
            j["label"] = classes[static_cast<size_t>(labels[static_cast<size_t>(s + b)])];
          out.push_back(j);
          continue;
        }
        std::cout << excerpt(name);
        if (!labels.empty())
          std::cout << " (label "
                    << classes[static_cast<size_t>(labels[static_cast<size_t>(s + b)])] << ")";
        std::cout << ":";
        for (int64_t t = 0; t < std::min(f->top, k); ++t) {
          char buf[64];
          std::snprintf(buf, sizeof buf, " %s %.4f",
                        classes[static_cast<size_t>(order[static_cast<size_t>(t)])].c_str(),
                        p[static_cast<size_t>(order[static_cast<size_t>(t)])]);
          std::cout << (t ? "," : "") << buf;
        }
        std::cout << "\n";
      }
    }
    if (f->json) std::cout << out.dump(1) << "\n";
  });
}

}  // namespace convlab::cli
