// Flags shared by the training subcommands, and the default data directory.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>

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

}  // namespace convlab::cli
