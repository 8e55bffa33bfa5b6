// foldConstants: constant subgraphs (Constant nodes, ops over initializers, Shape of a static
// shape) become initializers, the rest of the graph is untouched and outputs stay identical.
#include "runtime/passes/fold_constants.h"

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("foldConstants replaces constant subgraphs with initializers") {
  Graph graph = graphWithInput("x", {2, 3});
  graph.initializers["a"] = randomTensor({2, 3}, 1);
  addNode(graph, "Constant", {}, {"c"}, attrs({{"value", randomTensor({2, 3}, 2)}}));
  addNode(graph, "Add", {"a", "c"}, {"k"});                  // constant: both inputs constant
  addNode(graph, "Shape", {"x"}, {"s"});                     // constant: static shape
  addNode(graph, "Reshape", {"x", "s"}, {"r"});              // reads the run-time input
  addNode(graph, "Mul", {"r", "k"}, {"y"});
  graph.outputs.push_back({"y", {}});
  Graph original = graph;

  int64_t changes = -1;
  Status status = foldConstants(graph, &changes);
  REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message));
  CHECK(changes == 3);
  CHECK(graph.nodes.size() == 2);
  CHECK(countOps(graph, "Constant") == 0);
  CHECK(countOps(graph, "Shape") == 0);
  CHECK(graph.isInitializer("k"));
  CHECK(graph.isInitializer("s"));
  // "c" is only read by the folded Add, so it does not become an initializer.
  CHECK_FALSE(graph.isInitializer("c"));
  CHECK(sameOutputs(original, graph));
}

TEST_CASE("foldConstants turns a constant graph output into an initializer") {
  Graph graph = graphWithInput("x", {4});
  addNode(graph, "Constant", {}, {"c"}, attrs({{"value", randomTensor({4}, 3)}}));
  addNode(graph, "Add", {"x", "c"}, {"y"});
  graph.outputs.push_back({"y", {}});
  graph.outputs.push_back({"c", {}});
  Graph original = graph;
  REQUIRE(foldConstants(graph).ok());
  CHECK(graph.nodes.size() == 1);
  CHECK(graph.isInitializer("c"));
  CHECK(sameOutputs(original, graph));
}

TEST_CASE("foldConstants leaves a graph without constants alone") {
  Graph graph = graphWithInput("x", {4});
  addNode(graph, "Relu", {"x"}, {"y"});
  graph.outputs.push_back({"y", {}});
  int64_t changes = -1;
  REQUIRE(foldConstants(graph, &changes).ok());
  CHECK(changes == 0);
  CHECK(graph.nodes.size() == 1);
}

TEST_CASE("foldConstants reports a graph that does not analyse") {
  Graph graph = graphWithInput("x", {4});
  addNode(graph, "Add", {"x", "missing"}, {"y"});
  graph.outputs.push_back({"y", {}});
  CHECK_FALSE(foldConstants(graph).ok());
}
