// Graph-editing helpers: consumers and single-use checks count repeated inputs and graph
// outputs, rewiring leaves graph outputs alone, fresh names never collide, and bypassing keeps
// graph output names.
#include "runtime/passes/graph_edit.h"

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

Graph sample() {
  Graph graph = graphWithInput("x", {2});
  graph.initializers["w"] = randomTensor({2}, 1);
  addNode(graph, "Relu", {"x"}, {"a"});
  addNode(graph, "Add", {"a", "a"}, {"b"});  // reads a twice
  addNode(graph, "Mul", {"b", "w"}, {"c"});
  addNode(graph, "Identity", {"c"}, {"y"});
  graph.outputs.push_back({"y", {}});
  graph.outputs.push_back({"b", {}});
  return graph;
}

}  // namespace

TEST_CASE("consumersOf and soleConsumer") {
  Graph graph = sample();
  CHECK(consumersOf(graph, "a") == std::vector<size_t>{1});
  CHECK_FALSE(soleConsumer(graph, "a").has_value());  // two uses by one node
  CHECK_FALSE(soleConsumer(graph, "b").has_value());  // also a graph output
  CHECK(soleConsumer(graph, "c") == std::optional<size_t>{3});
  CHECK(soleConsumer(graph, "x") == std::optional<size_t>{0});
  CHECK_FALSE(soleConsumer(graph, "").has_value());
}

TEST_CASE("replaceUses rewires node inputs but not graph outputs") {
  Graph graph = sample();
  replaceUses(graph, "b", "a");
  CHECK(graph.nodes[2].inputs[0] == "a");
  CHECK(graph.outputs[1].name == "b");
}

TEST_CASE("freshValueName avoids every name in the graph") {
  Graph graph = sample();
  CHECK(freshValueName(graph, "new") == "new");
  CHECK(freshValueName(graph, "w") == "w_1");
  graph.initializers["w_1"] = randomTensor({1}, 2);
  CHECK(freshValueName(graph, "w") == "w_2");
  CHECK(freshValueName(graph, "y") == "y_1");
}

TEST_CASE("bypassNode renames the producer when the no-op writes a graph output") {
  Graph graph = sample();
  Graph original = graph;
  std::vector<bool> removed(graph.nodes.size(), false);
  REQUIRE(bypassNode(graph, 3, 0, removed));
  eraseNodes(graph, removed);
  REQUIRE(graph.nodes.size() == 3);
  CHECK(graph.nodes[2].outputs[0] == "y");
  CHECK(sameOutputs(original, graph));
}
