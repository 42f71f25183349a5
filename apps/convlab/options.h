// Flags shared by the training subcommands, and the default data directory.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

#include "convlab/data/dataloader.h"
#include "convlab/error.h"
#include "convlab/nn/models.h"
#include "convlab/report/atomic_file.h"
#include "convlab/train/trainer.h"

namespace convlab::cli {

// The CIFAR-10 subset shipped in the repository: the build's source tree, else ./data.
inline std::string default_data_dir() {
  const std::string built_in = std::string(CONVLAB_SOURCE_DIR) + "/data/cifar-10-batches-bin";
  if (std::filesystem::exists(built_in)) return built_in;
  return "data/cifar-10-batches-bin";
}

// --epochs --batch-size --lr --optimizer --momentum --weight-decay --seed, into `recipe`.
inline void add_recipe_options(CLI::App* cmd, train::Recipe& recipe) {
  cmd->add_option("--epochs", recipe.epochs, "Epochs to train")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--batch-size", recipe.batch_size, "Images per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--lr", recipe.lr, "Learning rate")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--optimizer", recipe.optimizer, "adam or sgd")
      ->capture_default_str()
      ->check(CLI::IsMember({"adam", "sgd"}));
  cmd->add_option("--momentum", recipe.momentum, "SGD momentum")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.999999));
  cmd->add_option("--weight-decay", recipe.weight_decay, "L2 weight decay")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", recipe.seed, "Seed of initialisation and shuffling")
      ->capture_default_str();
}

// --model / --checkpoint / --seed: a trained model from a checkpoint, else a fresh one.
struct ModelFlags {
  std::string model = "standard";
  std::string checkpoint;
  uint64_t seed = 0;

  void add_to(CLI::App* cmd) {
    cmd->add_option("--model", model, "standard, sumfirst, or a model file")->capture_default_str();
    cmd->add_option("--checkpoint", checkpoint, "Use the trained model in this checkpoint instead");
    cmd->add_option("--seed", seed, "Seed of a fresh model's initial weights")
        ->capture_default_str();
  }
  std::shared_ptr<nn::Sequential> load() const {
    if (!checkpoint.empty()) return train::load_model(train::load_checkpoint(checkpoint));
    Generator gen(seed);
    return nn::build_model(model, gen);
  }
  std::string describe() const {
    return checkpoint.empty() ? model + " (initial weights, seed " + std::to_string(seed) + ")"
                              : "checkpoint " + checkpoint;
  }
};

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
