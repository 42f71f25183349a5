#include "convlab/experiment/layer_table.h"

#include "convlab/nn/residual.h"
#include "convlab/nn/sequential.h"

namespace convlab::experiment {

namespace {

int64_t parameter_count(nn::Module& m) {
  int64_t count = 0;
  for (auto* p : m.parameters()) count += p->value.numel();
  return count;
}

// One row for `m` (reached with input shape `in`) and, below a container, rows for its children
// in PyTorch's dotted names; returns m's output shape. Shapes come from output_shape(), which is
// what forward produces.
Shape add_rows(nn::Module& m, const std::string& path, int depth, const Shape& in,
               nlohmann::json& rows) {
  const auto children = m.children();
  const Shape out = m.output_shape(in);
  rows.push_back({{"index", path},
                  {"depth", depth},
                  {"type", m.type_name()},
                  {"layer", children.empty() ? m.repr() : m.type_name()},
                  {"output_shape", out},
                  {"parameters", parameter_count(m)}});
  const bool chained = dynamic_cast<nn::Sequential*>(&m) != nullptr;
  Shape s = in;
  for (const nn::NamedChild& c : children) {
    const Shape child_out =
        add_rows(*c.module, path.empty() ? c.name : path + "." + c.name, depth + 1, s, rows);
    if (chained)
      s = child_out;  // a Sequential feeds each child the previous output; a Residual
                      // feeds both branches its own input
  }
  return out;
}

}  // namespace

nlohmann::json layer_table(nn::Sequential& model, const Tensor& input) {
  model.forward(input);  // the activations pictures are drawn from
  nlohmann::json rows = nlohmann::json::array();
  Shape s = input.shape();
  for (size_t i = 0; i < model.size(); ++i) s = add_rows(model[i], std::to_string(i), 0, s, rows);
  return rows;
}

}  // namespace convlab::experiment
