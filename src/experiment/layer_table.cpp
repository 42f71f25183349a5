#include "convlab/experiment/layer_table.h"

namespace convlab::experiment {

nlohmann::json layer_table(nn::Sequential& model, const Tensor& input) {
  model.forward(input);
  nlohmann::json rows = nlohmann::json::array();
  for (size_t i = 0; i < model.size(); ++i) {
    int64_t count = 0;
    for (auto* p : model[i].parameters()) count += p->value.numel();
    rows.push_back({{"index", i},
                    {"type", model[i].type_name()},
                    {"layer", model[i].repr()},
                    {"output_shape", model.activation(i).shape()},
                    {"parameters", count}});
  }
  return rows;
}

}  // namespace convlab::experiment
