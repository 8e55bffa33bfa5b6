#include "planner/stage_graph.h"

#include <algorithm>

#include <fmt/format.h>

namespace cleave::planner {

const ModelCosts* stageModel(const StagePlan& stage, const PlanningProblem& problem) {
  switch (stage.graph) {
    case StageGraph::Model: return &problem.model;
    case StageGraph::Student:
      if (!problem.nonn || stage.graphIndex >= problem.nonn->students.size()) return nullptr;
      return &problem.nonn->students[stage.graphIndex].graph;
    case StageGraph::Fusion: return problem.nonn ? &problem.nonn->fusion : nullptr;
    case StageGraph::Block:
      if (!problem.earlyExit || stage.graphIndex >= problem.earlyExit->blocks.size()) return nullptr;
      return &problem.earlyExit->blocks[stage.graphIndex].graph;
    case StageGraph::Relay: return nullptr;
  }
  return nullptr;
}

void fillStageFigures(StagePlan& stage, const PlanningProblem& problem, int64_t relayBytes) {
  const DeviceProfile& device = problem.fleet.devices[stage.device];
  stage.macs = 0;
  stage.computeSeconds = stage.computeJoules = 0;
  stage.weightBytes = 0;
  const ModelCosts* model = stageModel(stage, problem);
  if (!model || stage.begin == stage.end) {
    stage.peakBytes = model ? model->cutBytes[static_cast<size_t>(stage.begin)] : relayBytes;
    return;
  }
  stage.peakBytes = model->cutBytes[static_cast<size_t>(stage.begin)];
  for (int64_t n = stage.begin; n < stage.end; ++n) {
    const NodeCost& node = model->nodes[static_cast<size_t>(n)];
    stage.macs += node.macs;
    stage.computeSeconds += static_cast<double>(node.macs) / device.rate(node.opClass) + device.nodeOverheadSeconds;
    stage.computeJoules += static_cast<double>(node.macs) * device.joulesPerMac;
    stage.weightBytes += node.weightBytes;
    stage.peakBytes = std::max(stage.peakBytes, node.liveBytes);
  }
}

Status fillEdgeFigures(PlanEdge& edge, const std::vector<StagePlan>& stages, const Fleet& fleet) {
  const size_t from = stages[edge.from].device, to = stages[edge.to].device;
  edge.transferSeconds = edge.radioJoules = 0;
  if (from == to) return {};
  const Link* link = fleet.linkBetween(from, to);
  const double bandwidth = fleet.bytesPerSecond(from, to);
  if (!link || bandwidth <= 0)
    return Error{fmt::format("no link carries data from '{}' to '{}'", fleet.devices[from].name,
                             fleet.devices[to].name)};
  edge.transferSeconds = link->rttSeconds / 2 + static_cast<double>(edge.bytes) / bandwidth;
  edge.radioJoules = static_cast<double>(edge.bytes) * fleet.devices[from].radioJoulesPerByte;
  return {};
}

MemoryShortfall deviceMemory(const Plan& plan, size_t device, const PlanningProblem& problem) {
  const DeviceProfile& profile = problem.fleet.devices[device];
  MemoryShortfall m;
  for (const StagePlan& stage : plan.stages) {
    if (stage.device != device) continue;
    m.weightBytes += stage.weightBytes;
    // Stages on one device may run at once for different requests: their peaks add up.
    m.activationBytes += stage.peakBytes;
    const ModelCosts* model = stageModel(stage, problem);
    if (!model) continue;
    int64_t workspace = 0;
    for (int64_t n = stage.begin; n < stage.end; ++n) {
      const NodeCost& node = model->nodes[static_cast<size_t>(n)];
      m.kernelBytes += node.kernelBytes;
      workspace = std::max(workspace, node.workspaceBytes);
      if (!profile.runs(node.int8)) m.missingPrecision = node.int8 ? "int8" : "float32";
    }
    m.kernelBytes += workspace;  // each stage's session lends its kernels one workspace
  }
  m.ramAvailable = profile.ramBytes;
  if (profile.flashBytes) {
    m.flashNeeded = m.weightBytes;
    m.flashAvailable = *profile.flashBytes;
    m.ramNeeded = m.activationBytes + m.kernelBytes;
  } else {
    m.ramNeeded = m.weightBytes + m.activationBytes + m.kernelBytes;
  }
  return m;
}

double criticalPathSeconds(const Plan& plan) {
  // Stages are in an order where every edge goes forward, so one pass finds each stage's
  // latest input arrival.
  std::vector<double> start(plan.stages.size(), 0.0);
  std::vector<std::vector<const PlanEdge*>> incoming(plan.stages.size());
  for (const PlanEdge& edge : plan.edges) incoming[edge.to].push_back(&edge);
  double latest = 0;
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    for (const PlanEdge* edge : incoming[i])
      start[i] = std::max(start[i], start[edge->from] + plan.stages[edge->from].computeSeconds + edge->transferSeconds);
    latest = std::max(latest, start[i] + plan.stages[i].computeSeconds);
  }
  return latest;
}

void fillTotals(Plan& plan, const Objective& objective) {
  plan.latencySeconds = criticalPathSeconds(plan);
  plan.energyJoules = 0;
  for (const StagePlan& stage : plan.stages) plan.energyJoules += stage.computeJoules;
  for (const PlanEdge& edge : plan.edges) plan.energyJoules += edge.radioJoules;
  plan.cost = objective.cost(plan.latencySeconds, plan.energyJoules);
}

}  // namespace cleave::planner
