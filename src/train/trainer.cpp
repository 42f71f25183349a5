#include "convlab/train/trainer.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>

#include "convlab/data/dataloader.h"
#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/nn/dropout.h"
#include "convlab/nn/loss.h"
#include "convlab/nn/models.h"
#include "convlab/ops/kernels.h"
#include "convlab/train/data_parallel.h"
#include "convlab/train/run_directory.h"
#include "convlab/train/weights.h"

namespace convlab::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

// ---- Recipe ----

void Recipe::validate() const {
  if (epochs < 0) throw ValueError("epochs must be 0 or more; got " + std::to_string(epochs));
  if (batch_size <= 0)
    throw ValueError("batch size must be positive; got " + std::to_string(batch_size));
  if (optimizer != "adam" && optimizer != "adamw" && optimizer != "sgd")
    throw ValueError("optimizer must be 'adam', 'adamw' or 'sgd'; got '" + excerpt(optimizer, 20) +
                     "'");
  data::Transform::parse(augment, normalize);  // throws naming what does not parse
  Schedule::parse(schedule);
  if (chunk_size < 0)
    throw ValueError("chunk size must be 0 (whole batches) or positive; got " +
                     std::to_string(chunk_size));
  if (!(lr > 0) || !std::isfinite(lr))
    throw ValueError("learning rate must be a positive number; got " + std::to_string(lr));
  if (!(momentum >= 0 && momentum < 1))
    throw ValueError("momentum must be in [0, 1); got " + std::to_string(momentum));
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay))
    throw ValueError("weight decay must be 0 or more; got " + std::to_string(weight_decay));
}

nlohmann::json Recipe::to_json() const {
  return {{"model", model},
          {"epochs", epochs},
          {"batch_size", batch_size},
          {"optimizer", optimizer},
          {"lr", lr},
          {"momentum", momentum},
          {"weight_decay", weight_decay},
          {"seed", seed},
          {"augment", augment},
          {"normalize", normalize},
          {"schedule", schedule},
          {"weights", weights},
          {"chunk_size", chunk_size}};
}

namespace {

// Values read back from a checkpoint header: of the right JSON type and in range, or an IoError
// naming the key (a header is input like any other file).
int64_t header_int(const nlohmann::json& j, const char* key, int64_t lo, int64_t hi) {
  const auto& v = j.at(key);
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi)) ||
      v.get<int64_t>() < lo || v.get<int64_t>() > hi)
    throw IoError(std::string("'") + key + "' must be a whole number from " + std::to_string(lo) +
                  " to " + std::to_string(hi) + "; got " + excerpt(v.dump(), 40));
  return v.get<int64_t>();
}

double header_real(const nlohmann::json& j, const char* key) {
  const auto& v = j.at(key);
  if (!v.is_number())
    throw IoError(std::string("'") + key + "' must be a number; got " + excerpt(v.dump(), 40));
  return v.get<double>();
}

std::string header_string(const nlohmann::json& j, const char* key) {
  const auto& v = j.at(key);
  if (!v.is_string())
    throw IoError(std::string("'") + key + "' must be a string; got " + excerpt(v.dump(), 40));
  return v.get<std::string>();
}

}  // namespace

Recipe Recipe::from_json(const nlohmann::json& j) {
  Recipe r;
  r.model = header_string(j, "model");
  r.epochs = header_int(j, "epochs", 0, 1000000);
  r.batch_size = header_int(j, "batch_size", 1, 1000000);
  r.optimizer = header_string(j, "optimizer");
  r.lr = header_real(j, "lr");
  r.momentum = header_real(j, "momentum");
  r.weight_decay = header_real(j, "weight_decay");
  const auto& seed = j.at("seed");
  if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<int64_t>() >= 0))
    throw IoError("'seed' must be a whole number from 0 to 2^64-1; got " +
                  excerpt(seed.dump(), 40));
  r.seed = seed.get<uint64_t>();
  // Recipes written before these existed have none of them.
  for (auto [key, field] : {std::pair{"augment", &r.augment}, std::pair{"normalize", &r.normalize},
                            std::pair{"schedule", &r.schedule}, std::pair{"weights", &r.weights}})
    if (j.contains(key)) *field = header_string(j, key);
  if (j.contains("chunk_size")) r.chunk_size = header_int(j, "chunk_size", 0, 1000000);
  return r;
}

// ---- EpochRecord ----

nlohmann::json EpochRecord::to_json(bool with_timing) const {
  nlohmann::json j = {
      {"epoch", epoch}, {"loss", loss}, {"test_accuracy", test_accuracy}, {"lr", lr}};
  if (with_timing) {
    // NaN (not measured in this process) is written as null.
    j["seconds"] = seconds;
    j["images_per_second"] = images_per_second;
  }
  return j;
}

EpochRecord EpochRecord::from_json(const nlohmann::json& j) {
  // Checkpoints written before timings left them hold them; newer ones do not.
  const double unknown = std::nan("");
  auto timing = [&](const char* key) {
    return j.contains(key) && !j.at(key).is_null() ? header_real(j, key) : unknown;
  };
  return {header_int(j, "epoch", 1, 1000000),
          header_real(j, "loss"),
          timing("seconds"),
          timing("images_per_second"),
          header_real(j, "test_accuracy"),
          j.contains("lr") ? header_real(j, "lr") : 0.0};
}

// ---- Evaluation ----

int64_t Evaluation::correct() const {
  int64_t c = 0;
  for (size_t i = 0; i < confusion.size(); ++i) c += confusion[i][i];
  return c;
}

int64_t Evaluation::total() const {
  int64_t t = 0;
  for (const auto& row : confusion)
    for (int64_t v : row) t += v;
  return t;
}

std::vector<double> Evaluation::per_class_accuracy() const {
  std::vector<double> acc;
  for (size_t i = 0; i < confusion.size(); ++i) {
    int64_t row = 0;
    for (int64_t v : confusion[i]) row += v;
    acc.push_back(row ? static_cast<double>(confusion[i][i]) / static_cast<double>(row) : 0.0);
  }
  return acc;
}

nlohmann::json Evaluation::to_json(const std::vector<std::string>& classes) const {
  nlohmann::json per_class = nlohmann::json::object();
  const auto acc = per_class_accuracy();
  for (size_t i = 0; i < acc.size() && i < classes.size(); ++i) per_class[classes[i]] = acc[i];
  return {{"accuracy", accuracy()}, {"correct", correct()},
          {"total", total()},       {"per_class_accuracy", per_class},
          {"classes", classes},     {"confusion_matrix", confusion}};
}

// ---- Trainer ----

Trainer::Trainer(const Recipe& recipe, const data::Dataset& train, const data::Dataset& test,
                 std::shared_ptr<nn::Sequential> model, int threads)
    : recipe_(recipe),
      transform_(data::Transform::parse(recipe.augment, recipe.normalize)),
      eval_transform_(data::Transform::parse("", recipe.normalize)),
      schedule_(Schedule::parse(recipe.schedule)),
      train_(train),
      test_(test),
      gen_(recipe.seed),
      pool_(std::make_unique<ThreadPool>(threads)),
      model_(std::move(model)) {
  // Checked before anything is written: a normalisation for another number of channels.
  if (!transform_.mean.empty() && static_cast<int64_t>(transform_.mean.size()) != train.channels)
    throw ValueError("--normalize gives " + std::to_string(transform_.mean.size()) + " means; " +
                     train.name + " has " + std::to_string(train.channels) + " channels");
}

Trainer::Trainer(const Recipe& recipe, const data::Dataset& train, const data::Dataset& test,
                 int threads)
    : Trainer(recipe, train, test, nullptr, threads) {
  recipe_.validate();
  model_ = nn::build_model(recipe_.model, gen_);
  // Drawn initial weights first, then replaced: the generator's later draws (shuffling, dropout)
  // are the same with or without --weights.
  if (!recipe_.weights.empty()) load_weights(*model_, recipe_.weights);
  nn::set_dropout_generator(*model_, &gen_);
  nn::check_model(*model_, {recipe_.batch_size, train.channels, train.height, train.width},
                  static_cast<int64_t>(train.classes.size()), /*training=*/true);
  make_optimizer();
}

void Trainer::make_optimizer() {
  if (recipe_.optimizer == "adam" || recipe_.optimizer == "adamw")
    optimizer_ = std::make_unique<optim::Adam>(
        model_->parameters(), optim::AdamOptions{.lr = recipe_.lr,
                                                 .weight_decay = recipe_.weight_decay,
                                                 .decoupled = recipe_.optimizer == "adamw"});
  else
    optimizer_ = std::make_unique<optim::SGD>(
        model_->parameters(),
        optim::SGDOptions{
            .lr = recipe_.lr, .momentum = recipe_.momentum, .weight_decay = recipe_.weight_decay});
}

void Trainer::distribute(Communicator& comm) {
  const int N = comm.size();
  if (N > 1 && recipe_.chunk_size == 0)
    throw ValueError("training on " + std::to_string(N) +
                     " processes needs a chunk size: this run computes whole batches (chunk "
                     "size 0), which cannot be shared out; train it in one process, or start a "
                     "run with --chunk-size");
  if (recipe_.chunk_size > 0) {
    const int64_t chunks = (recipe_.batch_size + recipe_.chunk_size - 1) / recipe_.chunk_size;
    if (recipe_.batch_size < N)
      throw ValueError("a batch of " + std::to_string(recipe_.batch_size) +
                       " images cannot be shared among " + std::to_string(N) +
                       " processes: use --batch-size " + std::to_string(N) + " or more");
    if (chunks < N)
      throw ValueError("a batch of " + std::to_string(recipe_.batch_size) + " in chunks of " +
                       std::to_string(recipe_.chunk_size) + " is " + std::to_string(chunks) +
                       " chunk" + (chunks == 1 ? "" : "s") + ", fewer than the " +
                       std::to_string(N) + " processes; use --chunk-size " +
                       std::to_string(std::max<int64_t>(1, recipe_.batch_size / N)) + " or less");
  }
  auto data_print = [](const data::Dataset& d) {
    return fingerprint(d.labels.data(), d.labels.size(),
                       fingerprint(d.images.data(), d.images.size()));
  };
  expect_same_everywhere(comm, data_print(train_), "training data (" + train_.name + ")");
  expect_same_everywhere(comm, data_print(test_), "test data (" + test_.name + ")");
  const std::string recipe = recipe_.to_json().dump();
  expect_same_everywhere(comm, fingerprint(recipe.data(), recipe.size()), "training recipe");
  // The run's state: model, optimizer, generator, epochs done (a resumed run's checkpoint).
  uint64_t state = fingerprint(gen_.state().data(), gen_.state().size(), history_.size());
  for (const nn::NamedTensor& t : nn::state_dict(*model_))
    state =
        fingerprint(t.value->data(), static_cast<size_t>(t.value->numel()) * sizeof(float), state);
  for (const auto& [name, t] : optimizer_->state_tensors())
    state = fingerprint(t.data(), static_cast<size_t>(t.numel()) * sizeof(float), state);
  expect_same_everywhere(comm, state, "model, optimizer or generator state");
  // The kernels' bits are the same at any thread count for one instruction set, not across them.
  expect_same_everywhere(comm, static_cast<uint64_t>(kernels::active_isa()),
                         std::string("instruction set (this process: ") +
                             kernels::isa_name(kernels::active_isa()) +
                             "; set CONVLAB_ISA to the same on every process)");
  comm_ = &comm;
}

void Trainer::fit(const std::string& out_dir_given, const Progress& progress) {
  PoolScope threads(pool_.get());
  // Only process 0 of a data-parallel job writes.
  const std::string out_dir = comm_ && comm_->rank() != 0 ? std::string() : out_dir_given;
  if (!out_dir.empty()) ensure_directory(out_dir);
  // What is on disk if training stops now: only what this fit committed is claimed.
  int64_t committed = 0;
  auto on_disk = [&] {
    if (out_dir.empty()) return std::string();
    if (committed == 0) return "; nothing new was written to " + excerpt(out_dir);
    return "; " + excerpt(out_dir) + "/checkpoint.bin holds epoch " + std::to_string(committed);
  };
  auto stop_if_asked = [&](int64_t epoch) {
    const int reason = progress.stop_requested ? progress.stop_requested() : 0;
    if (!reason) return;
    const std::string signal = reason == SIGINT    ? "SIGINT"
                               : reason == SIGTERM ? "SIGTERM"
                                                   : "signal " + std::to_string(reason);
    throw Interrupted(
        reason, "interrupted by " + signal + " during epoch " + std::to_string(epoch) + on_disk());
  };
  data::DataLoader loader(train_, recipe_.batch_size, /*shuffle=*/true, &gen_, &transform_);
  nn::CrossEntropyLoss criterion;
  Tensor images, grad;
  std::vector<int64_t> targets;
  nn::FusionScope fused(*model_);
  model_->train();
  SingleProcess one_process;
  std::unique_ptr<DataParallelStep> chunked;
  if (recipe_.chunk_size > 0) {
    check_chunks(*model_, {train_.channels, train_.height, train_.width}, train_.size(),
                 recipe_.batch_size, recipe_.chunk_size);
    chunked = std::make_unique<DataParallelStep>(*model_, comm_ ? *comm_ : one_process,
                                                 recipe_.chunk_size);
    if (comm_ && comm_->size() > 1)  // each process reads only the images of its own chunks
      loader.only_rows([chunk = recipe_.chunk_size, r = comm_->rank(),
                        n = comm_->size()](int64_t rows) { return owned_rows(rows, chunk, r, n); });
  }
  for (int64_t epoch = static_cast<int64_t>(history_.size()) + 1; epoch <= recipe_.epochs;
       ++epoch) {
    const auto start = Clock::now();
    const double lr = schedule_.lr_at(recipe_.lr, epoch - 1, recipe_.epochs);
    optimizer_->set_lr(lr);
    loader.start_epoch();
    double loss_sum = 0;
    int64_t batch = 0, seen = 0;
    while (true) {
      stop_if_asked(epoch);
      if (!loader.next(images, targets)) break;
      float loss;
      if (chunked) {
        loss = static_cast<float>(chunked->compute(images, targets, gen_));
      } else {
        optimizer_->zero_grad();
        loss = criterion.forward(model_->forward(images), targets);
      }
      if (!std::isfinite(loss))
        throw ValueError(
            "loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") + " at epoch " +
            std::to_string(epoch) + ", batch " + std::to_string(batch + 1) + " (step " +
            std::to_string(optimizer_->steps() + 1) + "); training stopped" + on_disk());
      if (!chunked) {
        criterion.backward(grad);
        model_->backward(grad);
      }
      optimizer_->step();
      loss_sum += loss;
      ++batch;
      seen += images.size(0);
      if (progress.on_batch)
        progress.on_batch(epoch, batch, loader.num_batches(), loss_sum / static_cast<double>(batch),
                          static_cast<double>(seen) / std::max(seconds_since(start), 1e-9));
    }
    EpochRecord rec;
    rec.epoch = epoch;
    rec.lr = lr;
    rec.loss = loss_sum / static_cast<double>(batch);
    rec.seconds = seconds_since(start);
    rec.images_per_second = static_cast<double>(seen) / std::max(rec.seconds, 1e-9);
    last_evaluation_ = evaluate(test_);
    rec.test_accuracy = last_evaluation_.accuracy();
    history_.push_back(rec);
    if (!out_dir.empty()) {
      commit_run(out_dir, checkpoint(), metrics_json().dump(2) + "\n");
      committed = epoch;
    }
    if (progress.on_epoch) progress.on_epoch(rec);
  }
}

Evaluation evaluate(nn::Sequential& model, const data::Dataset& dataset, int64_t batch_size,
                    const data::Transform* transform, Communicator* comm) {
  const size_t k = dataset.classes.size();
  Evaluation ev;
  ev.confusion.assign(k, std::vector<int64_t>(k, 0));
  data::Transform normalize_only;
  if (transform) {
    normalize_only = *transform;
    normalize_only.crop = normalize_only.flip = false;
  }
  data::DataLoader loader(dataset, batch_size, /*shuffle=*/false, nullptr,
                          transform ? &normalize_only : nullptr);
  nn::InferenceScope inference(model);  // fused kernels, no backward
  // Evaluation mode (BatchNorm's running statistics, no dropout), then back to the caller's mode.
  struct ModeScope {
    nn::Sequential& m;
    bool was;
    ~ModeScope() { m.train(was); }
  } mode{model, model.is_training()};
  model.eval();
  loader.start_epoch();
  Tensor images;
  std::vector<int64_t> targets;
  const int64_t shards = comm ? comm->size() : 1, shard = comm ? comm->rank() : 0;
  for (int64_t b = 0;; ++b) {
    if (b % shards != shard) {
      if (!loader.skip()) break;
      continue;
    }
    if (!loader.next(images, targets)) break;
    const Tensor& logits = model.forward(images);
    const int64_t classes = logits.size(1);
    for (int64_t n = 0; n < logits.size(0); ++n) {
      const float* row = logits.data() + n * classes;
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c)
        if (row[c] > row[best]) best = c;
      ++ev.confusion[static_cast<size_t>(targets[static_cast<size_t>(n)])]
                    [static_cast<size_t>(best)];
    }
  }
  if (shards > 1) {
    std::vector<int64_t> counts;
    for (const auto& r : ev.confusion) counts.insert(counts.end(), r.begin(), r.end());
    comm->sum(counts.data(), static_cast<int64_t>(counts.size()));
    for (size_t i = 0; i < k; ++i)
      std::copy_n(counts.begin() + static_cast<std::ptrdiff_t>(i * k), k, ev.confusion[i].begin());
  }
  return ev;
}

const Evaluation& Trainer::test_evaluation() {
  if (last_evaluation_.confusion.empty()) last_evaluation_ = evaluate(test_);
  return last_evaluation_;
}

Evaluation Trainer::evaluate(const data::Dataset& dataset) {
  PoolScope threads(pool_.get());
  return train::evaluate(*model_, dataset, recipe_.batch_size, &eval_transform_, comm_);
}

Checkpoint Trainer::checkpoint() const {
  Checkpoint c;
  nlohmann::json history = nlohmann::json::array();
  for (const auto& h : history_) history.push_back(h.to_json(/*with_timing=*/false));
  c.header = {{"format", "convlab checkpoint"},
              {"model_text", model_->repr()},
              {"recipe", recipe_.to_json()},
              {"epoch", static_cast<int64_t>(history_.size())},
              {"history", history},
              {"generator", gen_.state()},
              {"input_shape", Shape{train_.channels, train_.height, train_.width}},
              {"classes", train_.classes}};
  // Parameters and buffers (BatchNorm's running statistics) under their state_dict names.
  for (const nn::NamedTensor& t : nn::state_dict(*model_)) c.tensors["model." + t.name] = *t.value;
  for (auto& [name, t] : optimizer_->state_tensors()) c.tensors["optimizer." + name] = t;
  return c;
}

std::shared_ptr<nn::Sequential> load_model(const Checkpoint& c) {
  Generator scratch(0);  // initial values are overwritten below
  std::shared_ptr<nn::Sequential> model;
  try {
    model =
        nn::parse_model(c.header.at("model_text").get<std::string>(), "checkpoint model", scratch);
  } catch (const nlohmann::json::exception&) {
    throw IoError("checkpoint header has no model_text");
  }
  for (const nn::NamedTensor& t : nn::state_dict(*model)) {
    const std::string kind = t.is_parameter ? "parameter " : "buffer ";
    auto it = c.tensors.find("model." + t.name);
    if (it == c.tensors.end()) throw IoError("checkpoint lacks " + kind + t.name);
    if (it->second.shape() != t.value->shape())
      throw IoError("checkpoint " + kind + t.name + " has shape " + to_string(it->second.shape()) +
                    "; expected " + to_string(t.value->shape()));
    *t.value = it->second;
  }
  return model;
}

std::unique_ptr<Trainer> Trainer::resume(const std::string& path, const data::Dataset& train,
                                         const data::Dataset& test, int64_t epochs, int threads) {
  const Checkpoint c = load_checkpoint(path);
  try {
    Recipe recipe = Recipe::from_json(c.header.at("recipe"));
    if (epochs > 0) recipe.epochs = epochs;
    recipe.validate();
    std::unique_ptr<Trainer> t(new Trainer(recipe, train, test, load_model(c), threads));
    nn::set_dropout_generator(*t->model_, &t->gen_);
    nn::check_model(*t->model_, {recipe.batch_size, train.channels, train.height, train.width},
                    static_cast<int64_t>(train.classes.size()), /*training=*/true);
    t->make_optimizer();
    std::map<std::string, Tensor> state;
    for (const auto& [name, tensor] : c.tensors)
      if (name.rfind("optimizer.", 0) == 0) state[name.substr(10)] = tensor;
    t->optimizer_->load_state_tensors(state);
    t->gen_.restore(c.header.at("generator").get<std::string>());
    for (const auto& h : c.header.at("history")) t->history_.push_back(EpochRecord::from_json(h));
    if (static_cast<int64_t>(t->history_.size()) != header_int(c.header, "epoch", 0, 1000000))
      throw IoError("history does not match the epoch count");
    return t;
  } catch (const nlohmann::json::exception& e) {
    throw IoError(path + ": checkpoint header is incomplete (" + std::string(e.what()) + ")");
  } catch (const IoError& e) {
    throw IoError(path + ": " + e.what());
  }
}

nlohmann::json Trainer::metrics_json() {
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& h : history_) epochs.push_back(h.to_json());
  nlohmann::json j = {{"recipe", recipe_.to_json()},
                      {"model_text", model_->repr()},
                      {"train_data", {{"name", train_.name}, {"images", train_.size()}}},
                      {"test_data", {{"name", test_.name}, {"images", test_.size()}}},
                      {"epochs", epochs}};
  if (!history_.empty()) {
    j["test_accuracy"] = test_evaluation().accuracy();
    j["evaluation"] = test_evaluation().to_json(test_.classes);
  }
  return j;
}

}  // namespace convlab::train
