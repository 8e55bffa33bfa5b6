// Pruning: unstructured zeroes exactly the smallest share of each layer; structured gives the
// same outputs as the original network with the removed filters zeroed by hand (an independent
// construction), and leaves alone filters whose channels meet a residual Add.
#include "runtime/passes/prune.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

// Conv -> Relu -> MaxPool -> Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm, and a
// residual branch: Conv (c3) whose output is added to the second Conv's.
Graph network(bool residual) {
  Graph g = graphWithInput("x", {1, 2, 8, 8});
  g.initializers["w1"] = randomTensor({8, 2, 3, 3}, 1, -0.5f, 0.5f);
  g.initializers["b1"] = randomTensor({8}, 2, -0.2f, 0.2f);
  g.initializers["w2"] = randomTensor({6, 8, 3, 3}, 3, -0.3f, 0.3f);
  g.initializers["b2"] = randomTensor({6}, 4, -0.2f, 0.2f);
  g.initializers["w4"] = randomTensor({3, 6}, 5, -0.7f, 0.7f);
  addNode(g, "Conv", {"x", "w1", "b1"}, {"c1"}, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  addNode(g, "Relu", {"c1"}, {"r1"});
  addNode(g, "MaxPool", {"r1"}, {"p1"},
          attrs({{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}}));
  addNode(g, "Conv", {"p1", "w2", "b2"}, {"c2"}, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  std::string last = "c2";
  if (residual) {
    g.initializers["w3"] = randomTensor({6, 8, 1, 1}, 6, -0.3f, 0.3f);
    addNode(g, "Conv", {"p1", "w3"}, {"c3"});
    addNode(g, "Add", {"c2", "c3"}, {"sum"});
    last = "sum";
  }
  addNode(g, "Relu", {last}, {"r2"});
  addNode(g, "GlobalAveragePool", {"r2"}, {"gap"});
  addNode(g, "Flatten", {"gap"}, {"flat"});
  addNode(g, "Gemm", {"flat", "w4"}, {"y"}, attrs({{"transB", int64_t{1}}}));
  g.outputs.push_back({"y", {DType::F32, {1, 3}}});
  return g;
}

float l1(const Tensor& w, int64_t filter) {
  const int64_t per = w.numel() / w.dim(0);
  float sum = 0.0f;
  for (int64_t i = 0; i < per; ++i) sum += std::fabs(w.data<float>()[filter * per + i]);
  return sum;
}

}  // namespace

TEST_CASE("unstructured pruning zeroes the smallest share of every layer and nothing else") {
  const Graph original = network(false);
  Graph pruned = original;
  Result<PruneReport> report = pruneGraph(pruned, 0.5, false);
  REQUIRE(report.ok());
  CHECK(report->layers == 3);
  for (const char* name : {"w1", "w2", "w4"}) {
    const Tensor& before = original.initializers.at(name);
    const Tensor& after = pruned.initializers.at(name);
    REQUIRE(after.shape() == before.shape());
    float largestZeroed = 0.0f, smallestKept = INFINITY;
    int64_t zeros = 0;
    for (int64_t i = 0; i < before.numel(); ++i) {
      const float b = before.data<float>()[i], a = after.data<float>()[i];
      if (a == 0.0f) {
        ++zeros;
        largestZeroed = std::max(largestZeroed, std::fabs(b));
      } else {
        CHECK(a == b);
        smallestKept = std::min(smallestKept, std::fabs(b));
      }
    }
    CHECK(zeros == before.numel() / 2);
    CHECK(largestZeroed <= smallestKept);
  }
  CHECK(pruned.initializers.at("b1").identical(original.initializers.at("b1")));  // biases stay
}

TEST_CASE("structured pruning equals the network with the weakest filters zeroed, and shrinks it") {
  const Graph original = network(false);
  Graph pruned = original;
  Result<PruneReport> report = pruneGraph(pruned, 0.5, true);
  REQUIRE(report.ok());
  CHECK(report->filtersRemoved == 4 + 3);
  CHECK(pruned.initializers.at("w1").shape() == Shape{4, 2, 3, 3});
  CHECK(pruned.initializers.at("w2").shape() == Shape{3, 4, 3, 3});
  CHECK(pruned.initializers.at("w4").shape() == Shape{3, 3});

  // By hand: zero the filters with the smallest L1 norms (and their biases) in the original.
  Graph zeroed = original;
  for (const auto& [weights, bias] : {std::pair{"w1", "b1"}, std::pair{"w2", "b2"}}) {
    Tensor& w = zeroed.initializers.at(weights);
    std::vector<std::pair<float, int64_t>> norms;
    for (int64_t f = 0; f < w.dim(0); ++f) norms.push_back({l1(original.initializers.at(weights), f), f});
    std::sort(norms.begin(), norms.end());
    const int64_t per = w.numel() / w.dim(0);
    for (size_t k = 0; k < norms.size() / 2; ++k) {
      const int64_t f = norms[k].second;
      std::fill_n(w.data<float>() + f * per, per, 0.0f);
      zeroed.initializers.at(bias).data<float>()[f] = 0.0f;
    }
  }
  CHECK(maxOutputDiff(zeroed, pruned, 11) < 1e-5f);
  CHECK(maxOutputDiff(zeroed, pruned, 12) < 1e-5f);
}

TEST_CASE("structured pruning keeps every filter whose channels meet a residual Add") {
  Graph pruned = network(true);
  Result<PruneReport> report = pruneGraph(pruned, 0.5, true);
  REQUIRE(report.ok());
  CHECK(report->filtersRemoved == 4);  // only the first Conv: its channels reach Convs alone
  CHECK(report->skippedLayers == 2);   // c2 and c3 feed the Add
  CHECK(pruned.initializers.at("w2").shape() == Shape{6, 4, 3, 3});
  CHECK(pruned.initializers.at("w3").shape() == Shape{6, 4, 1, 1});
  CHECK_FALSE(pruneGraph(pruned, 1.0, true).ok());
}
