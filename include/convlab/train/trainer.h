// Training: a model, its optimizer, the data loader and the one seeded generator, run epoch by
// epoch with cross-entropy; evaluation; checkpoints that resume bit for bit.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlab/data/dataset.h"
#include "convlab/data/transform.h"
#include "convlab/nn/sequential.h"
#include "convlab/ops/parallel.h"
#include "convlab/optim/optimizer.h"
#include "convlab/tensor/random.h"
#include "convlab/train/checkpoint.h"
#include "convlab/train/communicator.h"
#include "convlab/train/schedule.h"

namespace convlab::train {

// What is trained and how; the notebook's recipe is the default.
struct Recipe {
  std::string model = "standard";  // "standard", "sumfirst" or a model file
  int64_t epochs = 25;
  int64_t batch_size = 64;
  std::string optimizer = "adam";  // "adam", "adamw" or "sgd"
  double lr = 1e-3;
  double momentum = 0.0;  // sgd only
  double weight_decay = 0.0;
  uint64_t seed = 0;
  std::string augment;    // "", "crop", "flip", "crop,flip" (data/transform.h)
  std::string normalize;  // "" or "MEAN,MEAN,MEAN/STD,STD,STD"
  std::string schedule;   // "", "step:EPOCHS:GAMMA", "cosine" (train/schedule.h)
  std::string weights;    // "" or a .safetensors state_dict the run starts from (fine-tuning)
  // 0: each batch in one pass. S > 0: each batch as chunks of S images whose gradients are summed
  // in a fixed tree (data_parallel.h): what `mpirun -np N` shares out, the same bits at any N.
  int64_t chunk_size = 0;

  void validate() const;  // throws ValueError naming the bad field
  nlohmann::json to_json() const;
  static Recipe from_json(const nlohmann::json& j);
};

struct EpochRecord {
  int64_t epoch = 0;  // 1-based
  double loss = 0;    // mean of the batch losses, as the notebook computes it
  // Measured, so never in checkpoints (whose bytes a seed fixes at any thread and process count):
  // NaN (null in metrics.json) for epochs a resumed run read back from its checkpoint.
  double seconds = 0;
  double images_per_second = 0;
  double test_accuracy = 0;
  double lr = 0;  // the learning rate the schedule gave this epoch

  nlohmann::json to_json(bool with_timing = true) const;
  static EpochRecord from_json(const nlohmann::json& j);
};

struct Evaluation {
  std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
  int64_t correct() const;
  int64_t total() const;
  double accuracy() const {
    return total() ? static_cast<double>(correct()) / static_cast<double>(total()) : 0.0;
  }
  std::vector<double> per_class_accuracy() const;
  nlohmann::json to_json(const std::vector<std::string>& classes) const;
};

// Callbacks through which a caller shows progress and asks to stop; the library itself prints
// nothing and installs no signal handler.
struct Progress {
  std::function<void(int64_t epoch, int64_t batch, int64_t batches, double mean_loss,
                     double images_per_second)>
      on_batch;
  std::function<void(const EpochRecord&)> on_epoch;
  // Asked before every batch: a non-zero answer (the caller's reason, e.g. a signal number) stops
  // training at that safe point with Interrupted.
  std::function<int()> stop_requested;
};

// Thrown by fit() when Progress::stop_requested answered non-zero: the epoch under way is dropped
// and the output directory keeps the last complete epoch. what() says which.
struct Interrupted : std::runtime_error {
  Interrupted(int signal_, const std::string& message)
      : std::runtime_error(message), signal(signal_) {}
  int signal;
};

class Trainer {
 public:
  // A fresh run: the model is built and initialised from Generator(recipe.seed). `threads` only
  // changes the speed: every number is the same at any thread count.
  Trainer(const Recipe& recipe, const data::Dataset& train, const data::Dataset& test,
          int threads = 1);
  // Continues the run saved in a checkpoint, up to `epochs` in all (0: the saved recipe's).
  static std::unique_ptr<Trainer> resume(const std::string& checkpoint_path,
                                         const data::Dataset& train, const data::Dataset& test,
                                         int64_t epochs = 0, int threads = 1);

  // Trains the remaining epochs. After each: evaluates on the test set, and if out_dir is not empty
  // commits out_dir/checkpoint.bin and out_dir/metrics.json together (train/run_directory.h). A
  // loss that is not finite stops training with a ValueError naming the epoch and step; a stop
  // request, with Interrupted.
  void fit(const std::string& out_dir, const Progress& progress = {});
  // Trains as one process of a data-parallel job (data_parallel.h): checks first that every
  // process holds the same data, recipe and run state (an Error naming what differs), and that a
  // batch has at least one chunk per process. From then on every process runs fit() and
  // evaluate() together; only process 0 writes out_dir. `comm` outlives the trainer.
  void distribute(Communicator& comm);
  Evaluation evaluate(const data::Dataset& dataset);
  // What evaluation applies to images: the recipe's normalisation, no augmentation.
  const data::Transform& evaluation_transform() const { return eval_transform_; }

  const Recipe& recipe() const { return recipe_; }
  const std::vector<EpochRecord>& history() const { return history_; }
  nn::Sequential& model() { return *model_; }
  std::shared_ptr<nn::Sequential> shared_model() const { return model_; }
  // The test-set evaluation of the model as it is now: the one fit() made after its last epoch,
  // or made (once) here if training has not run since the model last changed.
  const Evaluation& test_evaluation();
  Checkpoint checkpoint() const;
  nlohmann::json metrics_json();

 private:
  Trainer(const Recipe& recipe, const data::Dataset& train, const data::Dataset& test,
          std::shared_ptr<nn::Sequential> model, int threads);
  void make_optimizer();

  Recipe recipe_;
  data::Transform transform_, eval_transform_;
  Schedule schedule_;
  const data::Dataset& train_;
  const data::Dataset& test_;
  Generator gen_;
  std::unique_ptr<ThreadPool> pool_;
  std::shared_ptr<nn::Sequential> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::vector<EpochRecord> history_;
  Evaluation last_evaluation_;
  Communicator* comm_ = nullptr;  // null: one process
};

// Accuracy and confusion matrix of a model on a data set (argmax of the logits, the first of equal
// maxima as torch.argmax), in batches of batch_size, using the calling thread's active pool.
// `transform` (normalisation; augmentation is ignored) may be null. With a communicator of N
// processes, process r computes batches r, r + N, ... and the confusion matrices are summed
// (integers: exact), so every process returns the whole evaluation.
Evaluation evaluate(nn::Sequential& model, const data::Dataset& dataset, int64_t batch_size,
                    const data::Transform* transform = nullptr, Communicator* comm = nullptr);

// The model a checkpoint holds, with its trained parameters (for evaluate and inspect).
std::shared_ptr<nn::Sequential> load_model(const Checkpoint& checkpoint);

}  // namespace convlab::train
