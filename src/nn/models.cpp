#include "convlab/nn/models.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "convlab/error.h"
#include "convlab/io/file.h"
#include "convlab/io/pickle.h"
#include "convlab/limits.h"
#include "convlab/nn/layers.h"
#include "convlab/nn/onnx.h"

namespace convlab::nn {

namespace {

void add_common_tail(Sequential& m, int64_t in_channels, Generator& gen) {
  m.push_back(std::make_shared<Conv2d>(Conv2dOptions(in_channels, 8, 3).stride(1).padding(1), gen));
  m.push_back(std::make_shared<ReLU>());
  m.push_back(std::make_shared<Conv2d>(Conv2dOptions(8, 16, 3).stride(1).padding(1), gen));
  m.push_back(std::make_shared<ReLU>());
  m.push_back(std::make_shared<MaxPool2d>(2, 2));
  m.push_back(std::make_shared<Flatten>());
  m.push_back(std::make_shared<Linear>(16 * 16 * 16, 64, true, gen));
  m.push_back(std::make_shared<ReLU>());
  m.push_back(std::make_shared<Linear>(64, 10, true, gen));
}

}  // namespace

std::shared_ptr<Sequential> make_standard(Generator& gen) {
  auto m = std::make_shared<Sequential>();
  add_common_tail(*m, 3, gen);
  return m;
}

std::shared_ptr<Sequential> make_sumfirst(Generator& gen) {
  auto m = std::make_shared<Sequential>();
  m->push_back(std::make_shared<ChannelSum>());
  add_common_tail(*m, 1, gen);
  return m;
}

std::shared_ptr<Sequential> build_model(const std::string& name_or_path, Generator& gen) {
  if (name_or_path == "standard") return make_standard(gen);
  if (name_or_path == "sumfirst") return make_sumfirst(gen);
  if (name_or_path.empty())
    throw IoError("model: the name is empty (standard, sumfirst or a file)");
  if (path_kind(name_or_path) == PathKind::missing)
    throw IoError("model '" + excerpt(name_or_path) +
                  "' is neither 'standard', 'sumfirst' nor an existing model file");
  refuse_pickle(name_or_path);
  if (name_or_path.ends_with(".onnx")) return import_onnx(name_or_path);
  // Model text is a few lines; the cap keeps a wrong path (a data file, /dev/zero) harmless.
  const std::string text = read_text_file(name_or_path, kMaxModelFileBytes, "model file");
  return parse_model(text, excerpt(name_or_path), gen);
}

void check_model(Sequential& model, const Shape& input, int64_t classes, bool training) {
  const std::vector<Shape> shapes = model.layer_shapes(input);  // throws naming the layer
  if (shapes.empty()) throw ShapeError("the model has no layers");
  const Shape& out = shapes.back();
  if (out.size() != 2 || out[1] != classes)
    throw ShapeError("the model's output has shape " + to_string(out) + "; expected [N, " +
                     std::to_string(classes) + "] (one score per class)");
  const std::string what = "the model";
  int64_t parameters = 0, activations = 0;
  for (const Parameter* p : model.parameters())
    parameters = checked_add(parameters, p->value.numel(), what);
  for (const Shape& s : shapes)
    activations = checked_add(activations, checked_numel(s, what), what);
  // Training keeps a gradient beside each parameter and two Adam moments; each activation has a
  // gradient of the same size. Floats are 4 bytes.
  const int64_t floats = checked_add(checked_mul(parameters, training ? 4 : 1, what),
                                     checked_mul(activations, training ? 2 : 1, what), what);
  check_memory(static_cast<uint64_t>(checked_mul(floats, 4, what)),
               std::string(training ? "training" : "running") + " the model at batch size " +
                   std::to_string(input.at(0)) + " (" + std::to_string(parameters) +
                   " parameters, " + std::to_string(activations) + " activation values)");
}

}  // namespace convlab::nn
