// The planner charges the memory kernels hold (packed weights, transformed filters, indirection
// buffers) and the workspace their session lends them to the device that runs them: a device
// with room for the weights and activations alone is refused a model whose kernels need more,
// and accepted once it has that room too. The workspace is one per stage, the largest any of its
// kernels asks for: three layers that each want it do not need three.
#include <doctest/doctest.h>

#include "config/bundle.h"
#include "planner/cost_model.h"
#include "planner/split_solver.h"
#include "runtime/cost_report.h"
#include "runtime/fast_kernels.h"
#include "runtime/ops/op_test_util.h"

namespace cleave {
namespace {

// Three 3x3 convolutions: the kernels XNNPACK packs (and the portable build's Winograd transforms).
Graph threeConvs() {
  Graph g;
  g.name = "three_convs";
  g.inputs = {{"x", {DType::F32, {1, 32, 28, 28}}}};
  std::string in = "x";
  for (int i = 0; i < 3; ++i) {
    std::string w = "w" + std::to_string(i), out = "c" + std::to_string(i);
    g.initializers[w] = testing::randomTensor({32, 32, 3, 3}, static_cast<uint32_t>(i + 1));
    Node conv;
    conv.name = out;
    conv.opType = "Conv";
    conv.inputs = {in, w};
    conv.outputs = {out};
    conv.attributes.set("pads", std::vector<int64_t>{1, 1, 1, 1});
    g.nodes.push_back(conv);
    in = out;
  }
  g.outputs = {{in, {}}};
  return g;
}

planner::PlanningProblem oneDevice(planner::ModelCosts costs, int64_t ramBytes) {
  planner::PlanningProblem problem;
  planner::DeviceProfile device;
  device.name = "board";
  device.macsPerSecond.fill(1e9);
  device.ramBytes = ramBytes;
  problem.fleet.devices = {device};
  problem.model = std::move(costs);
  return problem;
}

bool planFits(const planner::ModelCosts& costs, int64_t ramBytes) {
  planner::PlanningProblem problem = oneDevice(costs, ramBytes);
  planner::CostModel model(problem);
  return planner::solveSplit(model).ok();
}

}  // namespace

TEST_CASE("a stage that fits without its kernels' memory does not fit with it") {
  Result<CostReport> report = buildCostReport(threeConvs());
  REQUIRE_MESSAGE(report.ok(), report.error().message);
  planner::ModelCosts costs = config::modelCosts(*report);
  int64_t weights = 0, held = 0, workspace = 0, peak = 0;
  for (const planner::NodeCost& node : costs.nodes) {
    weights += node.weightBytes;
    held += node.kernelBytes;
    workspace = std::max(workspace, node.workspaceBytes);
    peak = std::max(peak, node.liveBytes);
  }
  MESSAGE("weights ", weights, " B, peak activations ", peak, " B, kernels hold ", held, " B, workspace ", workspace,
          " B (", fastKernelLibrary(), ")");
  REQUIRE(held > 0);
  REQUIRE(workspace > 0);  // Winograd's transformed tiles, on either path

  planner::ModelCosts withoutKernels = costs;
  for (planner::NodeCost& node : withoutKernels.nodes) node.kernelBytes = node.workspaceBytes = 0;
  const int64_t dataOnly = weights + peak, kernelMemory = held + workspace;
  CHECK(planFits(withoutKernels, dataOnly));
  CHECK_FALSE(planFits(costs, dataOnly));
  CHECK_FALSE(planFits(costs, dataOnly + kernelMemory - 1));
  CHECK(planFits(costs, dataOnly + kernelMemory));
}

}  // namespace cleave
