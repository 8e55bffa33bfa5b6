// fuseSilu: Mul(x, Sigmoid(x)) in either operand order becomes one QuickGelu(alpha 1) whose
// output matches the pair's; Sigmoids read elsewhere and Muls of something else stay.
#include "runtime/passes/fuse_silu.h"

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

int64_t fuse(Graph& graph) {
  int64_t changes = -1;
  Status status = fuseSilu(graph, &changes);
  REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message));
  return changes;
}

// x -> Conv -> c; Sigmoid(c) -> s; Mul(c, s) or Mul(s, c) -> y.
Graph siluGraph(bool swapped) {
  Graph graph = graphWithInput("x", {1, 4, 6, 6});
  graph.initializers["w"] = randomTensor({8, 4, 3, 3}, 1);
  addNode(graph, "Conv", {"x", "w"}, {"c"});
  addNode(graph, "Sigmoid", {"c"}, {"s"});
  addNode(graph, "Mul", swapped ? std::vector<std::string>{"s", "c"} : std::vector<std::string>{"c", "s"}, {"y"});
  graph.outputs.push_back({"y", {}});
  return graph;
}

}  // namespace

TEST_CASE("Mul(x, Sigmoid(x)) becomes QuickGelu with alpha 1 and the same output") {
  for (bool swapped : {false, true}) {
    CAPTURE(swapped);
    Graph graph = siluGraph(swapped);
    Graph original = graph;
    CHECK(fuse(graph) == 1);
    REQUIRE(graph.nodes.size() == 2);
    const Node& fused = graph.nodes[1];
    CHECK(fused.opType == "QuickGelu");
    CHECK(fused.domain == "com.microsoft");
    CHECK(fused.inputs == std::vector<std::string>{"c"});
    CHECK(fused.outputs == std::vector<std::string>{"y"});
    CHECK(*fused.attributes.getFloat("alpha", 0.0f) == 1.0f);
    CHECK(maxOutputDiff(original, graph) <= 1e-5f);
  }
}

TEST_CASE("look-alikes of SiLU are left alone") {
  SUBCASE("the Sigmoid is read elsewhere too") {
    Graph graph = siluGraph(false);
    graph.outputs.push_back({"s", {}});
    CHECK(fuse(graph) == 0);
  }
  SUBCASE("the Mul's other operand is not the Sigmoid's input (squeeze-excitation)") {
    Graph graph = siluGraph(false);
    graph.inputs.push_back({"z", {DType::F32, {1, 8, 4, 4}}});
    graph.nodes[2].inputs = {"z", "s"};
    CHECK(fuse(graph) == 0);
  }
}

TEST_CASE("Mul(x, HardSigmoid(x; 1/6, 1/2)) becomes HardSwish, and an opset-13 graph opset 14") {
  for (int64_t opset : {13, 14, 17}) {
    CAPTURE(opset);
    Graph graph = siluGraph(false);
    graph.opset = opset;
    graph.nodes[1].opType = "HardSigmoid";
    graph.nodes[1].attributes.set("alpha", 1.0f / 6.0f);  // beta: ONNX's default 0.5
    Graph original = graph;
    CHECK(fuse(graph) == 1);
    REQUIRE(graph.nodes.size() == 2);
    CHECK(graph.nodes[1].opType == "HardSwish");
    CHECK(graph.nodes[1].domain.empty());
    CHECK(graph.opset == std::max<int64_t>(opset, 14));
    CHECK(maxOutputDiff(original, graph) <= 1e-5f);
  }
  SUBCASE("another slope is not HardSwish") {
    Graph graph = siluGraph(false);
    graph.nodes[1].opType = "HardSigmoid";  // ONNX's default alpha 0.2
    CHECK(fuse(graph) == 0);
  }
  SUBCASE("an opset-12 graph stays as it is") {
    Graph graph = siluGraph(false);
    graph.opset = 12;
    graph.nodes[1].opType = "HardSigmoid";
    graph.nodes[1].attributes.set("alpha", 1.0f / 6.0f);
    CHECK(fuse(graph) == 0);
    CHECK(graph.opset == 12);
  }
}
