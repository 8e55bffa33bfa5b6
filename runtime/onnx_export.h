// ONNX export: a Graph back to a ModelProto (after optimisation passes, or for a pipeline
// stage). Initializers are written as raw_data, graph inputs with their static shapes and
// outputs with the types analysis infers; nodes in non-default domains (com.microsoft
// FusedConv/FusedGemm) get an opset import of version 1 for their domain. The result passes
// onnx::checker::check_model and imports back to an equivalent Graph.
#pragma once

#include <string>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace onnx {
class ModelProto;
}  // namespace onnx

namespace cleave {

// Output types come from analyzeGraph; when the graph does not analyse, outputs keep the type
// the Graph records (possibly undefined) — exportOnnxFile refuses that case instead.
onnx::ModelProto exportOnnxModel(const Graph& graph);
// Analyses the graph first (an unloadable graph is an error, not a file) and writes the model.
Status exportOnnxFile(const Graph& graph, const std::string& path);

}  // namespace cleave
