// ONNX models in: the graphs torch.onnx.export (PyTorch 1.13, opsets 11 to 17) writes for the
// networks convlab trains, read with ONNX's own protobuf library and checked with its checker,
// then turned into the PyTorch model text convlab prints and its state_dict.
//
// Supported: Conv, Relu, LeakyRelu, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape to
// [batch, -1] (a constant shape, or the Shape-Gather-Unsqueeze-Concat pattern of x.view(x.size(0),
// -1)), Gemm, MatMul [+ Add], BatchNormalization, Dropout and Identity, ReduceSum over channels
// with keepdims (ChannelSum), Constant, and Add joining two branches of one input (Residual: the
// first input of the Add is the body, the second the shortcut). The graph must be a chain of these
// from its one input to its one output; anything else is one IoError naming the node and the op.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "convlab/nn/sequential.h"

namespace convlab::nn {

// The model in `path` (a .onnx file), with its weights. Throws IoError "<path>: ...".
std::shared_ptr<Sequential> import_onnx(const std::string& path);
// The same from the file's bytes; `path` only names it in messages (the fuzz target's entry).
std::shared_ptr<Sequential> parse_onnx(const std::vector<uint8_t>& bytes, const std::string& path);

// The model as ONNX (opset 13, batch, height and width dynamic, each parameter and buffer an
// initializer named as in PyTorch's state_dict, Dropout kept as an inference no-op), checked with
// ONNX's checker. Throws ValueError naming a layer ONNX cannot express (AdaptiveAvgPool2d other
// than (1, 1), BatchNorm without running statistics, Flatten other than from dimension 1).
std::string serialize_onnx(Sequential& model);
// Written atomically.
void export_onnx(Sequential& model, const std::string& path);

}  // namespace convlab::nn
