// rewriteChannelShuffles: ShuffleNet's Reshape -> Transpose(0,2,1,3,4) -> Reshape becomes one
// Gather over channels whose output equals the three nodes' exactly (the ops' own kernels are
// the reference); look-alikes that are not a channel shuffle are left alone.
#include "runtime/passes/channel_shuffle.h"

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

// x [N, C, H, W] -> Reshape [N, groups, C / groups, H, W] -> Transpose(perm) -> Reshape back.
Graph shuffleGraph(const Shape& x, int64_t groups, std::vector<int64_t> perm = {0, 2, 1, 3, 4}) {
  Graph graph = graphWithInput("x", x);
  graph.initializers["to5d"] = Tensor::fromVector<int64_t>({5}, {x[0], groups, x[1] / groups, x[2], x[3]});
  graph.initializers["to4d"] = Tensor::fromVector<int64_t>({4}, {x[0], -1, x[2], x[3]});
  addNode(graph, "Reshape", {"x", "to5d"}, {"r"});
  addNode(graph, "Transpose", {"r"}, {"t"}, attrs({{"perm", perm}}));
  addNode(graph, "Reshape", {"t", "to4d"}, {"y"});
  graph.outputs.push_back({"y", {}});
  return graph;
}

int64_t rewrite(Graph& graph) {
  int64_t changes = -1;
  Status status = rewriteChannelShuffles(graph, &changes);
  REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message));
  return changes;
}

}  // namespace

TEST_CASE("a channel shuffle becomes one Gather with the same output") {
  for (int64_t groups : {2, 3, 4, 12}) {
    for (const Shape& x : {Shape{1, 12, 5, 7}, Shape{2, 24, 3, 3}}) {
      CAPTURE(groups);
      CAPTURE(shapeString(x));
      Graph graph = shuffleGraph(x, groups);
      Graph original = graph;
      CHECK(rewrite(graph) == 1);
      REQUIRE(graph.nodes.size() == 1);
      CHECK(graph.nodes[0].opType == "Gather");
      CHECK(graph.nodes[0].outputs[0] == "y");
      std::vector<Tensor> inputs = randomInputs(graph, 3);
      CHECK(runGraph(graph, inputs)[0].identical(runGraph(original, inputs)[0]));
    }
  }
}

TEST_CASE("look-alikes of a channel shuffle are left alone") {
  SUBCASE("another permutation") {
    Graph graph = shuffleGraph({1, 12, 5, 7}, 3, {0, 1, 2, 4, 3});
    CHECK(rewrite(graph) == 0);
    CHECK(graph.nodes.size() == 3);
  }
  SUBCASE("the transposed tensor is read elsewhere too") {
    Graph graph = shuffleGraph({1, 12, 5, 7}, 3);
    graph.outputs.push_back({"t", {}});
    CHECK(rewrite(graph) == 0);
  }
  SUBCASE("the split tensor is read elsewhere too") {
    Graph graph = shuffleGraph({1, 12, 5, 7}, 3);
    addNode(graph, "Relu", {"r"}, {"other"});
    graph.outputs.push_back({"other", {}});
    CHECK(rewrite(graph) == 0);
  }
  SUBCASE("the reshape does not split the channels") {
    Graph graph = graphWithInput("x", {1, 12, 6, 7});
    graph.initializers["to5d"] = Tensor::fromVector<int64_t>({5}, {1, 12, 2, 3, 7});
    graph.initializers["to4d"] = Tensor::fromVector<int64_t>({4}, {1, 12, 6, 7});
    addNode(graph, "Reshape", {"x", "to5d"}, {"r"});
    addNode(graph, "Transpose", {"r"}, {"t"}, attrs({{"perm", std::vector<int64_t>{0, 2, 1, 3, 4}}}));
    addNode(graph, "Reshape", {"t", "to4d"}, {"y"});
    graph.outputs.push_back({"y", {}});
    CHECK(rewrite(graph) == 0);
  }
}
