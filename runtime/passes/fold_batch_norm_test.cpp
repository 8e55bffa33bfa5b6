// foldBatchNorm: Conv/Gemm + BatchNormalization fold into one node whose outputs match the
// original within float rounding; shared weights are left untouched; BNs that cannot fold stay.
#include "runtime/passes/fold_batch_norm.h"

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

constexpr float TOLERANCE = 1e-4f;

// BN parameters with prefix `p` for `channels` channels; the variance stays positive.
void addBatchNormParams(Graph& graph, const std::string& p, int64_t channels, uint32_t seed) {
  graph.initializers[p + "_scale"] = randomTensor({channels}, seed, 0.5f, 1.5f);
  graph.initializers[p + "_bias"] = randomTensor({channels}, seed + 1);
  graph.initializers[p + "_mean"] = randomTensor({channels}, seed + 2);
  graph.initializers[p + "_var"] = randomTensor({channels}, seed + 3, 0.2f, 2.0f);
}

Node& addBatchNorm(Graph& graph, const std::string& p, const std::string& input, const std::string& output) {
  return addNode(graph, "BatchNormalization", {input, p + "_scale", p + "_bias", p + "_mean", p + "_var"}, {output},
                 attrs({{"epsilon", 1e-3f}}));
}

int64_t foldOk(Graph& graph) {
  int64_t changes = -1;
  Status status = foldBatchNorm(graph, &changes);
  REQUIRE_MESSAGE(status.ok(), (status.ok() ? "" : status.error().message));
  return changes;
}

float relativeDiff(const Graph& before, const Graph& after) {
  // Outputs are O(10) here; scale the tolerance so it is relative-ish.
  return maxOutputDiff(before, after) / 10.0f;
}

}  // namespace

TEST_CASE("foldBatchNorm folds BN into Conv with and without bias") {
  for (bool withBias : {true, false}) {
    for (int64_t group : {int64_t{1}, int64_t{4}}) {
      CAPTURE(withBias);
      CAPTURE(group);
      Graph graph = graphWithInput("x", {1, 4, 7, 7});
      graph.initializers["w"] = randomTensor({8, 4 / group, 3, 3}, 1);
      std::vector<std::string> convInputs{"x", "w"};
      if (withBias) {
        graph.initializers["b"] = randomTensor({8}, 2);
        convInputs.push_back("b");
      }
      addNode(graph, "Conv", convInputs, {"c"}, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"group", group}}));
      addBatchNormParams(graph, "bn", 8, 10);
      addBatchNorm(graph, "bn", "c", "y");
      graph.outputs.push_back({"y", {}});
      Graph original = graph;

      CHECK(foldOk(graph) == 1);
      REQUIRE(graph.nodes.size() == 1);
      const Node& conv = graph.nodes[0];
      CHECK(conv.opType == "Conv");
      CHECK(conv.outputs[0] == "y");
      REQUIRE(conv.inputs.size() == 3);
      CHECK(graph.isInitializer(conv.inputs[1]));
      CHECK(conv.inputs[1] != "w");
      CHECK(graph.isInitializer(conv.inputs[2]));
      CHECK(relativeDiff(original, graph) <= TOLERANCE);
    }
  }
}

TEST_CASE("foldBatchNorm writes new weights and leaves shared ones untouched") {
  Graph graph = graphWithInput("x", {1, 3, 5, 5});
  graph.initializers["w"] = randomTensor({6, 3, 1, 1}, 1);
  Tensor wBefore = graph.initializers["w"].clone();
  addNode(graph, "Conv", {"x", "w"}, {"c1"});
  addNode(graph, "Conv", {"x", "w"}, {"c2"});  // shares w
  addBatchNormParams(graph, "bn", 6, 20);
  addBatchNorm(graph, "bn", "c1", "y1");
  graph.outputs.push_back({"y1", {}});
  graph.outputs.push_back({"c2", {}});
  Graph original = graph;

  CHECK(foldOk(graph) == 1);
  CHECK(countOps(graph, "BatchNormalization") == 0);
  CHECK(graph.initializers["w"].identical(wBefore));
  CHECK(original.initializers["w"].identical(wBefore));
  CHECK(relativeDiff(original, graph) <= TOLERANCE);
}

TEST_CASE("foldBatchNorm folds BN into FusedConv without activation but not with one") {
  for (bool withActivation : {false, true}) {
    CAPTURE(withActivation);
    Graph graph = graphWithInput("x", {1, 2, 4, 4});
    graph.initializers["w"] = randomTensor({2, 2, 3, 3}, 3);
    Attributes a;
    if (withActivation) a.set("activation", std::string("Relu"));
    addNode(graph, "FusedConv", {"x", "w"}, {"c"}, a, "com.microsoft");
    addBatchNormParams(graph, "bn", 2, 30);
    addBatchNorm(graph, "bn", "c", "y");
    graph.outputs.push_back({"y", {}});
    Graph original = graph;
    CHECK(foldOk(graph) == (withActivation ? 0 : 1));
    CHECK(countOps(graph, "BatchNormalization") == (withActivation ? 1u : 0u));
    CHECK(relativeDiff(original, graph) <= TOLERANCE);
  }
}

TEST_CASE("foldBatchNorm folds BN into Gemm for either transB and every bias shape") {
  const int64_t m = 3, k = 5, n = 4;
  for (int64_t transB : {int64_t{0}, int64_t{1}}) {
    for (int biasKind = 0; biasKind < 4; ++biasKind) {  // none, [N], [M, N], scalar
      CAPTURE(transB);
      CAPTURE(biasKind);
      Graph graph = graphWithInput("a", {m, k});
      graph.initializers["b"] = randomTensor(transB ? Shape{n, k} : Shape{k, n}, 4);
      std::vector<std::string> inputs{"a", "b"};
      if (biasKind != 0) {
        graph.initializers["c"] = randomTensor(biasKind == 1 ? Shape{n} : biasKind == 2 ? Shape{m, n} : Shape{}, 5);
        inputs.push_back("c");
      }
      addNode(graph, "Gemm", inputs, {"g"}, attrs({{"transB", transB}, {"alpha", 0.7f}, {"beta", 1.3f}}));
      addBatchNormParams(graph, "bn", n, 40);
      addBatchNorm(graph, "bn", "g", "y");
      graph.outputs.push_back({"y", {}});
      Graph original = graph;
      CHECK(foldOk(graph) == 1);
      REQUIRE(graph.nodes.size() == 1);
      CHECK(graph.nodes[0].opType == "Gemm");
      CHECK(relativeDiff(original, graph) <= TOLERANCE);
    }
  }
}

TEST_CASE("foldBatchNorm leaves BNs it cannot fold") {
  SUBCASE("standalone BN on a graph input") {
    Graph graph = graphWithInput("x", {1, 3, 4, 4});
    addBatchNormParams(graph, "bn", 3, 50);
    addBatchNorm(graph, "bn", "x", "y");
    graph.outputs.push_back({"y", {}});
    CHECK(foldOk(graph) == 0);
    CHECK(graph.nodes.size() == 1);
  }
  SUBCASE("conv output read elsewhere too") {
    Graph graph = graphWithInput("x", {1, 3, 4, 4});
    graph.initializers["w"] = randomTensor({3, 3, 1, 1}, 6);
    addNode(graph, "Conv", {"x", "w"}, {"c"});
    addBatchNormParams(graph, "bn", 3, 60);
    addBatchNorm(graph, "bn", "c", "y");
    addNode(graph, "Relu", {"c"}, {"r"});
    graph.outputs.push_back({"y", {}});
    graph.outputs.push_back({"r", {}});
    CHECK(foldOk(graph) == 0);
  }
  SUBCASE("BN parameters computed at run time") {
    Graph graph = graphWithInput("x", {1, 3, 4, 4});
    graph.inputs.push_back({"scale", {DType::F32, {3}}});
    graph.initializers["w"] = randomTensor({3, 3, 1, 1}, 7);
    addNode(graph, "Conv", {"x", "w"}, {"c"});
    addBatchNormParams(graph, "bn", 3, 70);
    addNode(graph, "BatchNormalization", {"c", "scale", "bn_bias", "bn_mean", "bn_var"}, {"y"});
    graph.outputs.push_back({"y", {}});
    CHECK(foldOk(graph) == 0);
  }
}
