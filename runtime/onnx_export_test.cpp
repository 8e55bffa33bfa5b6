// ONNX export: exported models pass ONNX's own checker, carry the opset imports, raw_data
// initializers and typed inputs/outputs, and import back to a graph with identical outputs.
#include "runtime/onnx_export.h"

#include <cstdio>
#include <filesystem>

#include <doctest/doctest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include "runtime/onnx_import.h"
#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

// ONNX's checker throws on an invalid model; the message is the useful part.
std::string checkerError(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Export, check, import again and compare outputs bit for bit.
void checkRoundTrip(const Graph& graph) {
  onnx::ModelProto model = exportOnnxModel(graph);
  CHECK(checkerError(model) == "");
  Result<Graph> back = importOnnxModel(model);
  REQUIRE_MESSAGE(back.ok(), (back.ok() ? "" : back.error().message));
  CHECK(back->nodes.size() == graph.nodes.size());
  CHECK(back->initializers.size() == graph.initializers.size());
  CHECK(sameOutputs(graph, *back));
}

// Every attribute kind: tensor (Constant), string and ints (Conv), float (LeakyRelu), int
// (Cast, Flatten), floats (FusedConv's activation_params); i64 and f32 initializers.
Graph attributeZoo() {
  Graph graph = graphWithInput("x", {1, 2, 5, 5});
  graph.opset = 13;
  graph.initializers["w"] = randomTensor({3, 2, 3, 3}, 1);
  graph.initializers["shape"] = Tensor::fromVector<int64_t>({2}, {1, 75});
  addNode(graph, "Constant", {}, {"bias"}, attrs({{"value", randomTensor({3}, 2)}}));
  addNode(graph, "Conv", {"x", "w", "bias"}, {"c"},
          attrs({{"auto_pad", std::string("SAME_UPPER")}, {"strides", std::vector<int64_t>{1, 1}}}));
  addNode(graph, "LeakyRelu", {"c"}, {"l"}, attrs({{"alpha", 0.25f}}));
  addNode(graph, "FusedConv", {"l", "w2"}, {"f"},
          attrs({{"activation", std::string("Clip")}, {"activation_params", std::vector<float>{-0.5f, 0.5f}}}),
          "com.microsoft");
  graph.initializers["w2"] = randomTensor({3, 3, 1, 1}, 3);
  addNode(graph, "Reshape", {"f", "shape"}, {"r"});
  addNode(graph, "Cast", {"r"}, {"y"}, attrs({{"to", int64_t{1}}}));
  addNode(graph, "Flatten", {"c"}, {"z"}, attrs({{"axis", int64_t{2}}}));
  graph.outputs.push_back({"y", {}});
  graph.outputs.push_back({"z", {}});
  return graph;
}

}  // namespace

TEST_CASE("exportOnnxModel writes opsets, raw initializers and typed inputs and outputs") {
  Graph graph = attributeZoo();
  onnx::ModelProto model = exportOnnxModel(graph);
  CHECK(checkerError(model) == "");
  REQUIRE(model.opset_import_size() == 2);
  CHECK(model.opset_import(0).domain() == "");
  CHECK(model.opset_import(0).version() == 13);
  CHECK(model.opset_import(1).domain() == "com.microsoft");
  CHECK(model.opset_import(1).version() == 1);

  const onnx::GraphProto& g = model.graph();
  REQUIRE(g.initializer_size() == 3);
  for (const auto& init : g.initializer()) {
    CHECK(init.has_raw_data());
    CHECK(init.float_data_size() == 0);
  }
  REQUIRE(g.input_size() == 1);
  CHECK(g.input(0).type().tensor_type().elem_type() == onnx::TensorProto::FLOAT);
  CHECK(g.input(0).type().tensor_type().shape().dim_size() == 4);
  REQUIRE(g.output_size() == 2);
  const auto& yShape = g.output(0).type().tensor_type().shape();
  REQUIRE(yShape.dim_size() == 2);
  CHECK(yShape.dim(1).dim_value() == 75);
  const auto& zShape = g.output(1).type().tensor_type().shape();
  REQUIRE(zShape.dim_size() == 2);
  CHECK(zShape.dim(1).dim_value() == 25);
}

TEST_CASE("exportOnnxModel leaves out the contrib opset when no node needs it") {
  Graph graph = graphWithInput("x", {3});
  addNode(graph, "Relu", {"x"}, {"y"});
  graph.outputs.push_back({"y", {}});
  onnx::ModelProto model = exportOnnxModel(graph);
  CHECK(model.opset_import_size() == 1);
  CHECK(checkerError(model) == "");
}

TEST_CASE("export then import gives identical outputs") {
  checkRoundTrip(attributeZoo());
}

TEST_CASE("ONNX's PyTorch Conv models survive a round trip") {
  for (const char* name : {"test_Conv2d", "test_Conv2d_groups", "test_Conv1d_dilated"}) {
    CAPTURE(name);
    Result<Graph> graph =
        importOnnxFile(std::string("/usr/share/libonnx-testdata/data/pytorch-converted/") + name + "/model.onnx");
    REQUIRE_MESSAGE(graph.ok(), (graph.ok() ? "" : graph.error().message));
    checkRoundTrip(*graph);
  }
}

TEST_CASE("exportOnnxFile writes a file the importer and checker read back") {
  Graph graph = attributeZoo();
  std::filesystem::path path = std::filesystem::temp_directory_path() / "cleave_onnx_export_test.onnx";
  Status status = exportOnnxFile(graph, path.string());
  REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message));
  std::string message;
  try {
    onnx::checker::check_model(path.string());
  } catch (const std::exception& e) {
    message = e.what();
  }
  CHECK(message == "");
  Result<Graph> back = importOnnxFile(path.string());
  REQUIRE(back.ok());
  CHECK(sameOutputs(graph, *back));
  std::filesystem::remove(path);
}

TEST_CASE("exportOnnxFile refuses a graph that does not analyse and unwritable paths") {
  Graph bad = graphWithInput("x", {3});
  addNode(bad, "Add", {"x", "missing"}, {"y"});
  bad.outputs.push_back({"y", {}});
  CHECK_FALSE(exportOnnxFile(bad, "/tmp/cleave_never_written.onnx").ok());
  CHECK_FALSE(exportOnnxFile(attributeZoo(), "/nonexistent-dir/x.onnx").ok());
}
