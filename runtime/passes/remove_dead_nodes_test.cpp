// removeDeadNodes: nodes that reach no graph output and initializers nothing reads go; graph
// inputs and partly used multi-output nodes stay.
#include "runtime/passes/remove_dead_nodes.h"

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("removeDeadNodes drops unreachable nodes and unused initializers") {
  Graph graph = graphWithInput("x", {2, 4});
  graph.inputs.push_back({"unused_input", {DType::F32, {3}}});
  graph.initializers["w"] = randomTensor({2, 4}, 1);
  graph.initializers["dead_w"] = randomTensor({2, 4}, 2);
  graph.initializers["never_read"] = randomTensor({5}, 3);
  graph.initializers["split"] = Tensor::fromVector<int64_t>({2}, {1, 3});
  addNode(graph, "Add", {"x", "dead_w"}, {"dead1"});
  addNode(graph, "Relu", {"dead1"}, {"dead2"});
  addNode(graph, "Mul", {"x", "w"}, {"m"});
  // Split with one output read and one not: the node must stay.
  addNode(graph, "Split", {"m", "split"}, {"s0", "s1"}, attrs({{"axis", int64_t{1}}}));
  addNode(graph, "Sigmoid", {"s1"}, {"y"});
  graph.outputs.push_back({"y", {}});
  Graph original = graph;

  DeadCodeCounts counts;
  REQUIRE(removeDeadNodes(graph, &counts).ok());
  CHECK(counts.nodes == 2);
  CHECK(counts.initializers == 2);
  CHECK(graph.nodes.size() == 3);
  CHECK(countOps(graph, "Split") == 1);
  CHECK_FALSE(graph.isInitializer("dead_w"));
  CHECK_FALSE(graph.isInitializer("never_read"));
  CHECK(graph.isInitializer("w"));
  CHECK(graph.inputs.size() == 2);
  CHECK(sameOutputs(original, graph));
}

TEST_CASE("removeDeadNodes keeps an initializer that is a graph output") {
  Graph graph = graphWithInput("x", {2});
  graph.initializers["c"] = randomTensor({2}, 4);
  addNode(graph, "Relu", {"x"}, {"y"});
  graph.outputs.push_back({"y", {}});
  graph.outputs.push_back({"c", {}});
  DeadCodeCounts counts;
  REQUIRE(removeDeadNodes(graph, &counts).ok());
  CHECK(counts.nodes == 0);
  CHECK(counts.initializers == 0);
  CHECK(graph.isInitializer("c"));
}
