// Flags shared by the training subcommands, and the default data directory.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include "convlab/data/dataloader.h"
#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/nn/models.h"
#include "convlab/train/trainer.h"
#include "convlab/train/weights.h"
#include "flags.h"

namespace convlab::cli {

// The CIFAR-10 subset shipped in the repository: the build's source tree, else ./data.
inline std::string default_data_dir() {
  const std::string built_in = std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin";
  if (std::filesystem::exists(built_in)) return built_in;
  return "data/cifar-10-batches-bin";
}

// --epochs --batch-size --lr --optimizer --momentum --weight-decay --seed, into `recipe`.
inline void add_recipe_options(CLI::App* cmd, train::Recipe& recipe) {
  // Bounds: a million epochs or images per batch is beyond any run this tool is for; larger
  // numbers are typos, refused rather than run until killed.
  add_int_flag<int64_t>(cmd, "--epochs", recipe.epochs, 0, 1000000, "Epochs to train");
  add_int_flag<int64_t>(cmd, "--batch-size", recipe.batch_size, 1, 1000000, "Images per batch");
  add_real_flag(cmd, "--lr", recipe.lr, 0, 1e6, /*lo_open=*/true, "Learning rate");
  cmd->add_option("--optimizer", recipe.optimizer,
                  "adam, adamw (decoupled weight decay, 0.01 unless --weight-decay) or sgd")
      ->capture_default_str()
      ->check(CLI::IsMember({"adam", "adamw", "sgd"}));
  add_real_flag(cmd, "--momentum", recipe.momentum, 0, 0.999999, false, "SGD momentum");
  add_real_flag(cmd, "--weight-decay", recipe.weight_decay, 0, 1e6, false, "L2 weight decay");
  add_int_flag<uint64_t>(cmd, "--seed", recipe.seed, 0, std::numeric_limits<uint64_t>::max(),
                         "Seed of initialisation and shuffling");
  add_int_flag<int64_t>(cmd, "--chunk-size", recipe.chunk_size, 0, 1000000,
                        "Compute each batch as chunks of this many images, summed in a fixed "
                        "order: the unit mpirun shares out (default 0, whole batches; 16 under "
                        "mpirun); the same bits at any process count");
  // Checked when parsed, so that a typo is a flag error (exit 2) naming the accepted forms.
  auto checked = [](std::string& field, const char* flag, auto check) {
    return [&field, flag, check](const std::string& text) {
      try {
        check(text);
      } catch (const Error& e) {
        throw CLI::ValidationError(flag, e.what());
      }
      field = text;
    };
  };
  cmd->add_option_function<std::string>(
      "--augment",
      checked(recipe.augment, "--augment",
              [](const std::string& t) { data::Transform::parse(t, ""); }),
      "Training augmentation: crop (RandomCrop(32, padding=4)), flip (RandomHorizontalFlip), "
      "or crop,flip");
  cmd->add_option_function<std::string>(
      "--normalize",
      checked(recipe.normalize, "--normalize",
              [](const std::string& t) { data::Transform::parse("", t); }),
      "Normalize(mean, std) per channel: MEAN,MEAN,MEAN/STD,STD,STD");
  cmd->add_option_function<std::string>(
      "--schedule",
      checked(recipe.schedule, "--schedule",
              [](const std::string& t) { train::Schedule::parse(t); }),
      "Learning-rate schedule per epoch: step:EPOCHS:GAMMA (StepLR) or cosine "
      "(CosineAnnealingLR over the run)");
}

// --model [--weights] / --checkpoint / --seed: a trained model from a checkpoint, else a model
// file with weights from a safetensors state_dict, else fresh initial weights.
struct ModelFlags {
  std::string model = "standard";
  std::string checkpoint;
  std::string weights;
  uint64_t seed = 0;

  void add_to(CLI::App* cmd) {
    add_path_flag(cmd, "--model", model, "standard, sumfirst, or a model file");
    add_path_flag(cmd, "--checkpoint", checkpoint,
                  "Use the trained model in this checkpoint instead");
    add_path_flag(cmd, "--weights", weights,
                  "The model's weights: a PyTorch state_dict saved as .safetensors")
        ->excludes("--checkpoint");
    add_int_flag<uint64_t>(cmd, "--seed", seed, 0, std::numeric_limits<uint64_t>::max(),
                           "Seed of a fresh model's initial weights");
  }
  // In evaluation mode: inspect, decompose and predict look at the model as it classifies.
  std::shared_ptr<nn::Sequential> load() const {
    std::shared_ptr<nn::Sequential> m;
    if (!checkpoint.empty()) {
      m = train::load_model(train::load_checkpoint(checkpoint));
    } else {
      Generator gen(seed);
      m = nn::build_model(model, gen);
      if (!weights.empty()) train::load_weights(*m, weights);
    }
    m->eval();
    return m;
  }
  bool is_onnx() const { return model.ends_with(".onnx"); }
  std::string describe() const {
    if (!checkpoint.empty()) return "checkpoint " + checkpoint;
    if (!weights.empty()) return model + " with weights " + weights;
    if (is_onnx()) return model + " (with its weights)";
    return model + " (initial weights, seed " + std::to_string(seed) + ")";
  }
};

// Whether two paths name the same existing file (after symlinks).
inline bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return std::filesystem::equivalent(a, b, ec) && !ec;
}

// One image of a data set as a (1, C, H, W) batch, or a ValueError naming the valid range.
inline Tensor image_from(const data::Dataset& ds, int64_t index, int64_t* label = nullptr) {
  if (index < 0 || index >= ds.size())
    throw ValueError("image " + std::to_string(index) + " is out of range: " + ds.name +
                     " has images 0.." + std::to_string(ds.size() - 1));
  Tensor x;
  std::vector<int64_t> y;
  data::gather_batch(ds, &index, 1, x, y);
  if (label) *label = y[0];
  return x;
}

}  // namespace convlab::cli
