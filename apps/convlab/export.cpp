// convlab export: a model out of convlab, as ONNX (graph and weights, for any ONNX runtime) or as
// a PyTorch state_dict in a safetensors file, which
// model.load_state_dict(safetensors.torch.load_file(FILE), strict=True) accepts for the model
// convlab prints (convlab inspect shows it; tools/torch_models.py builds it in PyTorch).
#include <iostream>

#include "commands.h"
#include "convlab/nn/onnx.h"
#include "options.h"

namespace convlab::cli {

void add_export(CLI::App& app) {
  struct Flags {
    ModelFlags model;
    std::string to;
    bool overwrite = false;
  };
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("export",
                                 "Write a model out: --to FILE.onnx (graph and weights) or "
                                 "FILE.safetensors (its PyTorch state_dict)");
  f->model.add_to(cmd);
  add_path_flag(cmd, "--to", f->to, "FILE.onnx or FILE.safetensors")->required();
  cmd->add_flag("--overwrite", f->overwrite, "Replace --to if it exists");
  cmd->callback([f] {
    const std::string& to = f->to;
    const bool onnx = to.ends_with(".onnx");
    if (!onnx && !to.ends_with(".safetensors"))
      throw CLI::ValidationError(
          "--to", "'" + excerpt(to) + "': export writes FILE.onnx or FILE.safetensors");
    const PathKind kind = path_kind(to);
    if (kind != PathKind::missing && !f->overwrite)
      throw IoError(excerpt(to) + " exists; pass --overwrite to replace it");
    if (kind == PathKind::directory || kind == PathKind::other)
      throw IoError(excerpt(to) + " is not a regular file");
    if (same_file(to, f->model.checkpoint) || same_file(to, f->model.weights) ||
        same_file(to, f->model.model))
      throw IoError(excerpt(to) + " is the model being exported; choose another --to");
    auto model = f->model.load();
    if (onnx) {
      nn::export_onnx(*model, to);
      std::cout << "wrote " << excerpt(to) << ": ONNX (opset 13) of " << f->model.describe()
                << "\n";
      return;
    }
    train::save_weights(*model, to, model->repr());
    std::cout << "wrote " << excerpt(to) << ": the state_dict (" << nn::state_dict(*model).size()
              << " tensors) of " << f->model.describe() << "\n";
  });
}

}  // namespace convlab::cli
