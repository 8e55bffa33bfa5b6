#include "runtime/cost_report.h"

#include <set>

#include <doctest/doctest.h>

#include "runtime/fast_kernels.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/session.h"
#include "runtime/stages.h"

using namespace cleave;

namespace {

Node node(std::string op, std::vector<std::string> inputs, std::string output) {
  Node n;
  n.name = output + "_node";
  n.opType = std::move(op);
  n.inputs = std::move(inputs);
  n.outputs = {std::move(output)};
  return n;
}

// x -> a=Relu -> b=Relu -> c=Relu -> d=Add(a, c) -> e=Relu; `a` skips over b and c.
Graph skipGraph() {
  Graph g;
  g.name = "skip";
  g.inputs = {{"x", {DType::F32, {1, 4, 8, 8}}}};
  g.outputs = {{"e", {}}};
  g.nodes = {node("Relu", {"x"}, "a"), node("Relu", {"a"}, "b"), node("Relu", {"b"}, "c"),
             node("Add", {"a", "c"}, "d"), node("Relu", {"d"}, "e")};
  return g;
}

// Brute force, straight from the definition: the tensors a later node (or the graph's output)
// reads that no later node produces.
int64_t bruteForceCrossingBytes(const Graph& g, size_t p, int64_t bytesPerTensor) {
  std::set<std::string> read, producedLater;
  for (size_t i = p; i < g.nodes.size(); ++i) {
    read.insert(g.nodes[i].inputs.begin(), g.nodes[i].inputs.end());
    producedLater.insert(g.nodes[i].outputs.begin(), g.nodes[i].outputs.end());
  }
  for (const ValueInfo& out : g.outputs) read.insert(out.name);
  int64_t bytes = 0;
  for (const std::string& v : read)
    if (!producedLater.count(v)) bytes += bytesPerTensor;
  return bytes;
}

}  // namespace

TEST_CASE("cut bytes include skip connections, as the definition says") {
  Graph g = skipGraph();
  Result<CostReport> report = buildCostReport(g);
  REQUIRE_MESSAGE(report.ok(), report.error().message);
  REQUIRE(report->cuts.size() == 6);
  const int64_t tensorBytes = 4 * 8 * 8 * 4;
  for (size_t p = 0; p < report->cuts.size(); ++p) {
    CAPTURE(p);
    CHECK(report->cuts[p].bytes == bruteForceCrossingBytes(g, p, tensorBytes));
  }
  CHECK(report->cuts[2].bytes == 2 * tensorBytes);  // a (the skip) and b
  CHECK(report->cuts[3].bytes == 2 * tensorBytes);  // a and c
  CHECK(report->cuts[0].tensors == std::vector<std::string>{"x"});
  CHECK(report->cuts[5].tensors == std::vector<std::string>{"e"});
  // While Add runs, a, c and d are live: the peak of the whole graph.
  CHECK(report->peakActivationBytes == 3 * tensorBytes);
  CHECK(report->cuts[0].peakBefore == 0);
  CHECK(report->cuts[5].peakAfter == 0);
  CHECK(report->cuts[2].peakBefore == 2 * tensorBytes);  // x+a, then a+b
  CHECK(report->cuts[2].peakAfter == 3 * tensorBytes);   // a+b+c, then a+c+d
  CHECK(report->totalMacs == 5 * 256);
}

TEST_CASE("empty stages pass their inputs through, and stages compose to the whole graph") {
  Graph g = skipGraph();
  Tensor x = testing::randomTensor({1, 4, 8, 8}, 3);
  auto session = Session::create(g);
  REQUIRE(session.ok());
  Tensor whole = (*(*session)->run({x}))[0];
  // An empty last stage; an empty stage in the middle while the skip value `a` crosses (a device
  // that only relays); empty stages at both ends.
  for (std::vector<int64_t> cuts : {std::vector<int64_t>{2, 3, 5}, {2, 2, 4}, {0, 0, 5, 5}}) {
    CAPTURE(cuts.size());
    auto stages = extractStages(g, cuts);
    REQUIRE(stages.ok());
    REQUIRE(stages->size() == cuts.size() + 1);
    std::map<std::string, Tensor> values = {{"x", x}};
    for (const Graph& stage : *stages) {
      std::vector<Tensor> inputs;
      for (const ValueInfo& in : stage.inputs) inputs.push_back(values.at(in.name));
      auto s = Session::create(stage);
      REQUIRE_MESSAGE(s.ok(), s.error().message);
      auto outputs = (*s)->run(inputs);
      REQUIRE(outputs.ok());
      for (size_t i = 0; i < stage.outputs.size(); ++i) values[stage.outputs[i].name] = (*outputs)[i];
    }
    CHECK(values.at("e").identical(whole));
  }
  auto relay = extractStages(g, std::vector<int64_t>{2, 2});
  REQUIRE(relay.ok());
  CHECK((*relay)[1].nodes.empty());
  CHECK((*relay)[1].inputs.size() == 2);  // a (held for the Add) and b
}

TEST_CASE("bad cut positions are errors, not crashes") {
  Graph g = skipGraph();
  std::vector<int64_t> outOfRange = {7};
  CHECK_FALSE(extractStages(g, outOfRange).ok());
  std::vector<int64_t> unordered = {3, 1};
  CHECK_FALSE(extractStages(g, unordered).ok());
}

TEST_CASE("live bytes per node: inputs being read, outputs, and values held for a later reader") {
  Result<CostReport> report = buildCostReport(skipGraph());
  REQUIRE(report.ok());
  const int64_t t = 4 * 8 * 8 * 4;  // every tensor is 1x4x8x8 float
  // a: {x, a}; b: {a held, b}; c: {a held, b, c}; d: {a, c, d}; e: {d, e}.
  std::vector<int64_t> expected{2 * t, 2 * t, 3 * t, 3 * t, 2 * t};
  REQUIRE(report->nodes.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(report->nodes[i].liveBytes == expected[i]);
  }
}

TEST_CASE("kernel memory: Winograd's transformed filters and workspace are charged, im2col holds none") {
  auto convGraph = [](bool constantWeights) {
    Graph g;
    g.name = "conv";
    g.inputs = {{"x", {DType::F32, {1, 64, 56, 56}}}};
    if (!constantWeights) g.inputs.push_back({"w", {DType::F32, {64, 64, 3, 3}}});
    else g.initializers["w"] = testing::randomTensor({64, 64, 3, 3}, 1);
    g.outputs = {{"y", {}}};
    Node conv = node("Conv", {"x", "w"}, "y");
    conv.attributes.set("pads", std::vector<int64_t>{1, 1, 1, 1});
    g.nodes = {conv};
    return g;
  };
  Result<CostReport> winograd = buildCostReport(convGraph(true), false);
  REQUIRE(winograd.ok());
  CHECK(winograd->nodes[0].kernelBytes == 16 * 64 * 64 * 4);  // U = G g G^T: [16][Cout][Cin] floats
  CHECK(winograd->nodes[0].workspaceBytes > 0);                // padded rows, V and M of a block
  Result<CostReport> im2col = buildCostReport(convGraph(false), false);
  REQUIRE(im2col.ok());
  CHECK(im2col->nodes[0].kernelBytes == 0);
  CHECK(im2col->nodes[0].workspaceBytes >= 64 * 9 * 56 * 4);  // at least one output row's columns

  // With the fast kernels the report charges what the session's kernel holds: XNNPACK's packed
  // copy of the transformed filters, and the workspace for all 28 x 28 tiles' transformed
  // inputs and products.
  if (!fastKernelsAvailable()) return;
  Result<CostReport> packed = buildCostReport(convGraph(true), true);
  REQUIRE(packed.ok());
  Result<std::unique_ptr<Session>> session = Session::create(convGraph(true));
  REQUIRE(session.ok());
  CHECK(packed->nodes[0].kernelBytes == (*session)->heldBytes());
  CHECK(packed->nodes[0].workspaceBytes == (*session)->workspaceBytes());
  CHECK(packed->nodes[0].kernelBytes >= 16 * 64 * 64 * 4);
  CHECK(packed->nodes[0].workspaceBytes == 28 * 28 * 16 * (64 + 64) * 4);
}
