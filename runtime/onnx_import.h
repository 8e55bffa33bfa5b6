// ONNX import through libonnx's protobuf classes. Produces a Graph in topological order with
// every input shape static (symbolic dimensions become 1, or the caller's override), and
// rejects what cleave cannot run with an error naming the model, the node and the op.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace onnx {
class ModelProto;
class TensorProto;
}  // namespace onnx

namespace cleave {

struct ImportOptions {
  // Shapes for graph inputs, overriding the file's (needed when a dimension is symbolic and
  // should not be 1).
  std::map<std::string, Shape> inputShapes;
};

// Opsets of the default domain this importer accepts.
constexpr int64_t MIN_OPSET = 6;  // pytorch-converted test models use 6; the ops we run agree with 11+ there
constexpr int64_t MAX_OPSET = 17;

Result<Graph> importOnnxFile(const std::string& path, const ImportOptions& options = {});
// The bytes of a .onnx file; errors start with `nameForErrors`. importOnnxFile reads the file
// and calls this, so the fuzzer (fuzz/onnx_model_fuzz.cpp) exercises exactly the file path.
Result<Graph> importOnnxBytes(std::string_view bytes, const std::string& nameForErrors,
                              const ImportOptions& options = {});
Result<Graph> importOnnxModel(const onnx::ModelProto& model, const ImportOptions& options = {});
// TensorProto -> Tensor with every size checked (used for initializers and test data).
Result<Tensor> tensorFromProto(const onnx::TensorProto& proto);
// Reads a file holding one serialized TensorProto (ONNX test data's input_0.pb).
Result<Tensor> readTensorProtoFile(const std::string& path);

}  // namespace cleave
