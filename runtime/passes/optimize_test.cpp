// optimizeGraph: the whole pipeline on a small ResNet-like graph (and on ONNX's own PyTorch
// Conv model) gives the same outputs, counts what each pass did and converges.
#include "runtime/passes/optimize.h"

#include "runtime/onnx_import.h"
#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

void addBatchNormParams(Graph& graph, const std::string& p, int64_t channels, uint32_t seed) {
  graph.initializers[p + "_scale"] = randomTensor({channels}, seed, 0.5f, 1.5f);
  graph.initializers[p + "_bias"] = randomTensor({channels}, seed + 1);
  graph.initializers[p + "_mean"] = randomTensor({channels}, seed + 2);
  graph.initializers[p + "_var"] = randomTensor({channels}, seed + 3, 0.2f, 2.0f);
}

// x -> Conv -> Relu -> Identity -> Conv -> Add(residual) -> Relu -> Reshape(Shape(.)) ->
// Dropout -> y, plus a dead branch. `withBatchNorm` puts a BN after each Conv.
Graph residualBlock(bool withBatchNorm) {
  Graph graph = graphWithInput("x", {1, 4, 8, 8});
  graph.initializers["w1"] = randomTensor({4, 4, 3, 3}, 1, -0.3f, 0.3f);
  graph.initializers["w2"] = randomTensor({4, 4, 3, 3}, 2, -0.3f, 0.3f);
  graph.initializers["b2"] = randomTensor({4}, 3);
  graph.initializers["unused"] = randomTensor({10}, 4);
  Attributes same = attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  addNode(graph, "Conv", {"x", "w1"}, {"c1"}, same);
  std::string a = "c1";
  if (withBatchNorm) {
    addBatchNormParams(graph, "bn1", 4, 10);
    addNode(graph, "BatchNormalization", {"c1", "bn1_scale", "bn1_bias", "bn1_mean", "bn1_var"}, {"n1"});
    a = "n1";
  }
  addNode(graph, "Relu", {a}, {"r1"});
  addNode(graph, "Identity", {"r1"}, {"i1"});
  addNode(graph, "Conv", {"i1", "w2", "b2"}, {"c2"}, same);
  std::string b = "c2";
  if (withBatchNorm) {
    addBatchNormParams(graph, "bn2", 4, 20);
    addNode(graph, "BatchNormalization", {"c2", "bn2_scale", "bn2_bias", "bn2_mean", "bn2_var"}, {"n2"});
    b = "n2";
  }
  addNode(graph, "Add", {b, "x"}, {"sum"});
  addNode(graph, "Relu", {"sum"}, {"r2"});
  addNode(graph, "Shape", {"r2"}, {"shape"});
  addNode(graph, "Reshape", {"r2", "shape"}, {"reshaped"});
  addNode(graph, "Dropout", {"reshaped"}, {"y"});
  addNode(graph, "Sigmoid", {"x"}, {"dead"});
  graph.outputs.push_back({"y", {}});
  return graph;
}

}  // namespace

TEST_CASE("optimizeGraph fuses a residual block down to two FusedConvs") {
  for (bool withBatchNorm : {false, true}) {
    CAPTURE(withBatchNorm);
    Graph graph = residualBlock(withBatchNorm);
    Graph original = graph;
    OptimizeReport report;
    Status status = optimizeGraph(graph, &report);
    REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message));

    CHECK(graph.nodes.size() == 2);
    CHECK(countOps(graph, "FusedConv") == 2);
    CHECK(graph.nodes.back().inputs.size() == 4);  // the residual rides along as Z
    CHECK(graph.nodes.back().outputs[0] == "y");
    CHECK(report.nodesBefore == static_cast<int64_t>(original.nodes.size()));
    CHECK(report.nodesAfter == 2);
    CHECK(report.foldedConstants == 1);       // Shape
    CHECK(report.removedNoops == 3);          // Identity, Reshape, Dropout
    CHECK(report.foldedBatchNorms == (withBatchNorm ? 2 : 0));
    CHECK(report.fusedActivations == 3);  // Relu, then Add and Relu
    CHECK(report.removedDeadNodes == 1);      // the Sigmoid branch
    CHECK(report.removedInitializers >= 2);   // "unused", the folded Shape, old weights
    CHECK(report.rounds >= 2);
    CHECK(report.rounds <= MAX_OPTIMIZE_ROUNDS);
    CHECK(report.counts().size() == 9);
    CHECK_FALSE(graph.isInitializer("unused"));
    CHECK(maxOutputDiff(original, graph) <= (withBatchNorm ? 1e-4f : 1e-5f));

    // A second run finds nothing left to do.
    OptimizeReport again;
    REQUIRE(optimizeGraph(graph, &again).ok());
    CHECK(again.nodesAfter == again.nodesBefore);
    CHECK(again.rounds == 1);
  }
}

TEST_CASE("optimizeGraph keeps ONNX's PyTorch Conv models correct") {
  for (const char* name : {"test_Conv2d", "test_Conv2d_groups", "test_Conv2d_depthwise_padded"}) {
    CAPTURE(name);
    std::string dir = std::string("/usr/share/libonnx-testdata/data/pytorch-converted/") + name;
    Result<Graph> graph = importOnnxFile(dir + "/model.onnx");
    REQUIRE_MESSAGE(graph.ok(), (graph.ok() ? "" : graph.error().message));
    Result<Tensor> input = readTensorProtoFile(dir + "/test_data_set_0/input_0.pb");
    Result<Tensor> expected = readTensorProtoFile(dir + "/test_data_set_0/output_0.pb");
    REQUIRE(input.ok());
    REQUIRE(expected.ok());
    REQUIRE(optimizeGraph(*graph).ok());
    std::vector<Tensor> outputs = runGraph(*graph, {*input});
    REQUIRE(outputs.size() == 1);
    CHECK(maxAbsDiff(outputs[0], *expected) <= 1e-4f);
  }
}

TEST_CASE("optimizeGraph reports a graph that does not analyse") {
  Graph graph = graphWithInput("x", {4});
  addNode(graph, "NoSuchOp", {"x"}, {"y"});
  graph.outputs.push_back({"y", {}});
  CHECK_FALSE(optimizeGraph(graph).ok());
}
