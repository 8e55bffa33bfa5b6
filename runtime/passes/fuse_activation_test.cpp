// fuseActivations: Conv/Gemm + activation and Conv + Add + Relu become one com.microsoft node
// with the same outputs; patterns that must not fuse (shared or exported conv outputs,
// broadcasting Adds) stay.
#include "runtime/passes/fuse_activation.h"

#include <limits>

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

constexpr float TOLERANCE = 1e-5f;

int64_t fuseOk(Graph& graph) {
  int64_t changes = -1;
  Status status = fuseActivations(graph, &changes);
  REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message));
  return changes;
}

Graph convGraph() {
  Graph graph = graphWithInput("x", {1, 3, 6, 6});
  graph.initializers["w"] = randomTensor({4, 3, 3, 3}, 1);
  graph.initializers["b"] = randomTensor({4}, 2);
  addNode(graph, "Conv", {"x", "w", "b"}, {"c"}, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  return graph;
}

}  // namespace

TEST_CASE("fuseActivations fuses each supported activation into Conv") {
  struct Case {
    std::string op;
    Attributes attributes;
    std::vector<std::string> extraInputs;
    std::string activation;
    std::vector<float> params;
  };
  std::vector<Case> cases = {
      {"Relu", {}, {}, "Relu", {}},
      {"LeakyRelu", attrs({{"alpha", 0.2f}}), {}, "LeakyRelu", {0.2f}},
      {"LeakyRelu", {}, {}, "LeakyRelu", {0.01f}},
      {"Clip", {}, {"lo", "hi"}, "Clip", {-0.5f, 0.75f}},
      {"Clip", {}, {"", "hi"}, "Clip", {std::numeric_limits<float>::lowest(), 0.75f}},
      {"Sigmoid", {}, {}, "Sigmoid", {}},
      {"HardSigmoid", attrs({{"alpha", 0.3f}}), {}, "HardSigmoid", {0.3f, 0.5f}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.op);
    Graph graph = convGraph();
    graph.initializers["lo"] = Tensor::scalar(-0.5f);
    graph.initializers["hi"] = Tensor::scalar(0.75f);
    std::vector<std::string> inputs{"c"};
    inputs.insert(inputs.end(), c.extraInputs.begin(), c.extraInputs.end());
    addNode(graph, c.op, inputs, {"y"}, c.attributes);
    graph.outputs.push_back({"y", {}});
    Graph original = graph;

    CHECK(fuseOk(graph) == 1);
    REQUIRE(graph.nodes.size() == 1);
    const Node& node = graph.nodes[0];
    CHECK(node.opType == "FusedConv");
    CHECK(node.domain == "com.microsoft");
    CHECK(node.outputs[0] == "y");
    CHECK(*node.attributes.getString("activation", "") == c.activation);
    CHECK(*node.attributes.getFloats("activation_params", {}) == c.params);
    CHECK(*node.attributes.getInts("pads", {}) == std::vector<int64_t>{1, 1, 1, 1});
    CHECK(maxOutputDiff(original, graph) <= TOLERANCE);
  }
}

TEST_CASE("fuseActivations fuses Gemm + Relu into FusedGemm") {
  Graph graph = graphWithInput("a", {2, 5});
  graph.initializers["b"] = randomTensor({3, 5}, 3);
  graph.initializers["c"] = randomTensor({3}, 4);
  addNode(graph, "Gemm", {"a", "b", "c"}, {"g"}, attrs({{"transB", int64_t{1}}}));
  addNode(graph, "Relu", {"g"}, {"y"});
  graph.outputs.push_back({"y", {}});
  Graph original = graph;
  CHECK(fuseOk(graph) == 1);
  REQUIRE(graph.nodes.size() == 1);
  CHECK(graph.nodes[0].opType == "FusedGemm");
  CHECK(*graph.nodes[0].attributes.getInt("transB", 0) == 1);
  CHECK(maxOutputDiff(original, graph) <= TOLERANCE);
}

TEST_CASE("fuseActivations fuses the residual Conv + Add + Relu with Z") {
  for (bool convFirst : {true, false}) {
    CAPTURE(convFirst);
    Graph graph = convGraph();
    // The residual is produced after the conv in node order: the fused node must still come
    // after it.
    addNode(graph, "Sigmoid", {"x"}, {"s"});
    graph.initializers["w2"] = randomTensor({4, 3, 1, 1}, 5);
    addNode(graph, "Conv", {"s", "w2"}, {"other"});
    addNode(graph, "Add", convFirst ? std::vector<std::string>{"c", "other"} : std::vector<std::string>{"other", "c"},
            {"sum"});
    addNode(graph, "Relu", {"sum"}, {"y"});
    graph.outputs.push_back({"y", {}});
    Graph original = graph;

    CHECK(fuseOk(graph) == 2);
    CHECK(countOps(graph, "Add") == 0);
    CHECK(countOps(graph, "Relu") == 0);
    REQUIRE(countOps(graph, "FusedConv") == 1);
    const Node& fused = graph.nodes.back();
    CHECK(fused.opType == "FusedConv");
    REQUIRE(fused.inputs.size() == 4);
    CHECK(graph.producerOf(fused.inputs[3]).has_value());
    CHECK(*graph.producerOf(fused.inputs[3]) < graph.nodes.size() - 1);
    CHECK(fused.outputs[0] == "y");
    CHECK(maxOutputDiff(original, graph) <= TOLERANCE);
  }
}

TEST_CASE("fuseActivations fuses a residual Add without activation, and with a Clip") {
  for (bool withClip : {false, true}) {
    CAPTURE(withClip);
    Graph graph = convGraph();
    graph.inputs.push_back({"other", {DType::F32, {1, 4, 6, 6}}});
    addNode(graph, "Add", {"c", "other"}, {withClip ? "sum" : "y"});
    if (withClip) addNode(graph, "Clip", {"sum"}, {"y"}, attrs({{"min", 0.0f}, {"max", 6.0f}}));
    graph.opset = withClip ? 6 : 13;  // Clip's bounds as attributes, as before opset 11
    graph.outputs.push_back({"y", {}});
    Graph original = graph;
    CHECK(fuseOk(graph) == (withClip ? 2 : 1));
    REQUIRE(graph.nodes.size() == 1);
    const Node& node = graph.nodes[0];
    CHECK(node.opType == "FusedConv");
    REQUIRE(node.inputs.size() == 4);
    CHECK(node.inputs[3] == "other");
    CHECK(*node.attributes.getString("activation", "") == (withClip ? "Clip" : ""));
    CHECK(maxOutputDiff(original, graph) <= TOLERANCE);
  }
}

TEST_CASE("fuseActivations fuses a FusedConv without activation, e.g. after BN folding") {
  Graph graph = graphWithInput("x", {1, 2, 5, 5});
  graph.initializers["w"] = randomTensor({2, 2, 3, 3}, 6);
  addNode(graph, "FusedConv", {"x", "w"}, {"c"}, {}, "com.microsoft");
  addNode(graph, "Sigmoid", {"c"}, {"y"});
  graph.outputs.push_back({"y", {}});
  Graph original = graph;
  CHECK(fuseOk(graph) == 1);
  CHECK(graph.nodes.size() == 1);
  CHECK(maxOutputDiff(original, graph) <= TOLERANCE);
}

TEST_CASE("fuseActivations leaves patterns that must not fuse") {
  SUBCASE("HardSwish, which ONNX Runtime's FusedConv does not take") {
    Graph graph = convGraph();
    addNode(graph, "HardSwish", {"c"}, {"y"});
    graph.outputs.push_back({"y", {}});
    CHECK(fuseOk(graph) == 0);
  }
  SUBCASE("conv output read twice") {
    Graph graph = convGraph();
    addNode(graph, "Relu", {"c"}, {"y"});
    addNode(graph, "Sigmoid", {"c"}, {"z"});
    graph.outputs.push_back({"y", {}});
    graph.outputs.push_back({"z", {}});
    CHECK(fuseOk(graph) == 0);
  }
  SUBCASE("conv output is a graph output") {
    Graph graph = convGraph();
    addNode(graph, "Relu", {"c"}, {"y"});
    graph.outputs.push_back({"y", {}});
    graph.outputs.push_back({"c", {}});
    CHECK(fuseOk(graph) == 0);
  }
  SUBCASE("Add that broadcasts") {
    Graph graph = convGraph();
    graph.initializers["per_channel"] = randomTensor({1, 4, 1, 1}, 7);
    addNode(graph, "Add", {"c", "per_channel"}, {"sum"});
    addNode(graph, "Relu", {"sum"}, {"y"});
    graph.outputs.push_back({"y", {}});
    CHECK(fuseOk(graph) == 0);
  }
  SUBCASE("activation already fused") {
    Graph graph = graphWithInput("x", {1, 2, 5, 5});
    graph.initializers["w"] = randomTensor({2, 2, 3, 3}, 8);
    addNode(graph, "FusedConv", {"x", "w"}, {"c"}, attrs({{"activation", std::string("Relu")}}), "com.microsoft");
    addNode(graph, "Sigmoid", {"c"}, {"y"});
    graph.outputs.push_back({"y", {}});
    CHECK(fuseOk(graph) == 0);
  }
  SUBCASE("Clip with run-time bounds") {
    Graph graph = convGraph();
    graph.inputs.push_back({"lo", {DType::F32, {}}});
    addNode(graph, "Clip", {"c", "lo"}, {"y"});
    graph.outputs.push_back({"y", {}});
    CHECK(fuseOk(graph) == 0);
  }
}
