// removeNoops: each kind of pass-through node disappears with outputs bit-identical; nodes that
// look similar but change the data stay; graph input/output names never change.
#include "runtime/passes/remove_noops.h"

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

Tensor ints(std::vector<int64_t> values) {
  Shape shape{static_cast<int64_t>(values.size())};
  return Tensor::fromVector<int64_t>(shape, values);
}

int64_t removeOk(Graph& graph) {
  int64_t changes = -1;
  Status status = removeNoops(graph, &changes);
  REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message));
  return changes;
}

}  // namespace

TEST_CASE("removeNoops removes every kind of no-op in a chain ending at a graph output") {
  Graph graph = graphWithInput("x", {2, 3, 4});
  graph.initializers["same_shape"] = ints({2, 3, 4});
  graph.initializers["zero_pads"] = ints({0, 0, 0, 0, 0, 0});
  graph.initializers["starts"] = ints({0, 0});
  graph.initializers["ends"] = ints({100, 4});
  graph.initializers["axes"] = ints({0, 2});
  graph.initializers["steps"] = ints({1, 1});
  addNode(graph, "Identity", {"x"}, {"a"});
  addNode(graph, "Reshape", {"a", "same_shape"}, {"b"});
  addNode(graph, "Relu", {"b"}, {"c"});
  addNode(graph, "Transpose", {"c"}, {"d"}, attrs({{"perm", std::vector<int64_t>{0, 1, 2}}}));
  addNode(graph, "Cast", {"d"}, {"e"}, attrs({{"to", int64_t{1}}}));  // FLOAT to FLOAT
  addNode(graph, "Pad", {"e", "zero_pads"}, {"f"});
  addNode(graph, "Slice", {"f", "starts", "ends", "axes", "steps"}, {"g"});
  addNode(graph, "Squeeze", {"g"}, {"h"});  // no size-1 dims: nothing to squeeze
  addNode(graph, "Flatten", {"h"}, {"i"}, attrs({{"axis", int64_t{0}}}));  // [1, 24]: changes the shape
  addNode(graph, "Dropout", {"i"}, {"y"});
  graph.outputs.push_back({"y", {}});
  Graph original = graph;

  CHECK(removeOk(graph) == 8);
  REQUIRE(graph.nodes.size() == 2);
  CHECK(graph.nodes[0].opType == "Relu");
  CHECK(graph.nodes[0].inputs[0] == "x");
  CHECK(graph.nodes[1].opType == "Flatten");
  // Dropout wrote the graph output, so Flatten now writes it under the same name.
  CHECK(graph.nodes[1].outputs[0] == "y");
  CHECK(graph.outputs[0].name == "y");
  CHECK(sameOutputs(original, graph));
}

TEST_CASE("removeNoops keeps nodes that change the data") {
  Graph graph = graphWithInput("x", {3, 3});
  graph.initializers["pads"] = ints({0, 1, 0, -1});      // shifts columns: same shape, other data
  graph.initializers["starts"] = ints({-1});
  graph.initializers["ends"] = ints({-100});
  graph.initializers["axes"] = ints({1});
  graph.initializers["steps"] = ints({-1});              // reverses columns: same shape
  graph.initializers["shape"] = ints({9});
  addNode(graph, "Transpose", {"x"}, {"t"}, attrs({{"perm", std::vector<int64_t>{1, 0}}}));
  addNode(graph, "Transpose", {"t"}, {"t2"});            // default perm reverses
  addNode(graph, "Pad", {"t2", "pads"}, {"p"});
  addNode(graph, "Slice", {"p", "starts", "ends", "axes", "steps"}, {"s"});
  addNode(graph, "Dropout", {"s"}, {"d", "mask"});        // mask is read below
  addNode(graph, "Cast", {"mask"}, {"mask_f"}, attrs({{"to", int64_t{1}}}));
  addNode(graph, "Add", {"d", "mask_f"}, {"sum"});
  addNode(graph, "Reshape", {"sum", "shape"}, {"y"});
  graph.outputs.push_back({"y", {}});
  Graph original = graph;
  CHECK(removeOk(graph) == 0);
  CHECK(graph.nodes.size() == original.nodes.size());
  CHECK(sameOutputs(original, graph));
}

TEST_CASE("removeNoops removes Dropout whose mask nobody reads") {
  Graph graph = graphWithInput("x", {4});
  addNode(graph, "Dropout", {"x"}, {"d", "mask"});
  addNode(graph, "Relu", {"d"}, {"y"});
  graph.outputs.push_back({"y", {}});
  Graph original = graph;
  CHECK(removeOk(graph) == 1);
  CHECK(graph.nodes.size() == 1);
  CHECK(sameOutputs(original, graph));
}

TEST_CASE("removeNoops never renames graph inputs or outputs") {
  SUBCASE("no-op from a graph input to a graph output stays") {
    Graph graph = graphWithInput("x", {4});
    addNode(graph, "Identity", {"x"}, {"y"});
    graph.outputs.push_back({"y", {}});
    CHECK(removeOk(graph) == 0);
    CHECK(graph.nodes.size() == 1);
  }
  SUBCASE("no-op between two graph outputs stays") {
    Graph graph = graphWithInput("x", {4});
    addNode(graph, "Relu", {"x"}, {"r"});
    addNode(graph, "Identity", {"r"}, {"y"});
    graph.outputs.push_back({"r", {}});
    graph.outputs.push_back({"y", {}});
    Graph original = graph;
    CHECK(removeOk(graph) == 0);
    CHECK(sameOutputs(original, graph));
  }
  SUBCASE("no-op over an initializer to a graph output stays") {
    Graph graph = graphWithInput("x", {4});
    graph.initializers["w"] = randomTensor({4}, 1);
    addNode(graph, "Relu", {"x"}, {"r"});
    addNode(graph, "Identity", {"w"}, {"y"});
    graph.outputs.push_back({"r", {}});
    graph.outputs.push_back({"y", {}});
    CHECK(removeOk(graph) == 0);
  }
  SUBCASE("renamed producer's other readers follow the rename") {
    Graph graph = graphWithInput("x", {4});
    addNode(graph, "Relu", {"x"}, {"r"});
    addNode(graph, "Identity", {"r"}, {"y"});
    addNode(graph, "Sigmoid", {"r"}, {"z"});
    graph.outputs.push_back({"y", {}});
    graph.outputs.push_back({"z", {}});
    Graph original = graph;
    CHECK(removeOk(graph) == 1);
    REQUIRE(graph.nodes.size() == 2);
    CHECK(graph.nodes[0].outputs[0] == "y");
    CHECK(graph.nodes[1].inputs[0] == "y");
    CHECK(sameOutputs(original, graph));
  }
}
