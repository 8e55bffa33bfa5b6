#include "daemon/fleet_plan.h"

#include <set>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "runtime/analysis.h"
#include "runtime/onnx_export.h"
#include "runtime/stages.h"

namespace cleave::daemon {

std::vector<std::string> FleetPlan::peersOf(const std::string& agent) const {
  std::set<std::string> peers;
  for (size_t i = 0; i < stages.size(); ++i) {
    if (stages[i].agent != agent) continue;
    if (i > 0) peers.insert(stages[i - 1].agent);
    if (i + 1 < stages.size()) peers.insert(stages[i + 1].agent);
  }
  // The origin hears from every stage (results from the last, failures from any) and may
  // address any of them.
  bool onRoute = !stagesOf(agent).empty();
  if (agent == origin())
    for (const FleetStage& s : stages) peers.insert(s.agent);
  else if (onRoute)
    peers.insert(origin());
  peers.erase(agent);
  return {peers.begin(), peers.end()};
}

std::vector<const FleetStage*> FleetPlan::stagesOf(const std::string& agent) const {
  std::vector<const FleetStage*> mine;
  for (const FleetStage& s : stages)
    if (s.agent == agent) mine.push_back(&s);
  return mine;
}

void fillPlanSummary(wire::PlanSummary::Builder summary, const FleetPlan& plan, bool installed) {
  summary.setEpoch(installed ? plan.epoch : 0);
  summary.setStrategy(wire::Strategy::SPLIT);
  summary.setPredictedLatencySeconds(plan.plan.latencySeconds);
  summary.setPredictedEnergyJoules(plan.plan.energyJoules);
  summary.setInstalled(installed);
  auto stages = summary.initStages(static_cast<unsigned>(plan.stages.size()));
  for (unsigned i = 0; i < stages.size(); ++i) {
    const FleetStage& s = plan.stages[i];
    stages[i].setStage(s.index);
    stages[i].setAgent(s.agent);
    stages[i].setFirstNode(s.begin);
    stages[i].setEndNode(s.end);
    stages[i].setComputeSeconds(s.predictedSeconds);
    stages[i].setSendBytes(s.sendBytes);
  }
}

Result<FleetPlan> buildFleetPlan(const Graph& graph, const planner::Plan& plan,
                                 const std::vector<std::string>& deviceNames) {
  std::vector<int64_t> cuts = plan.cuts();
  Result<std::vector<Graph>> stageGraphs = extractStages(graph, cuts);
  if (!stageGraphs) return stageGraphs.error();
  FleetPlan fleetPlan;
  fleetPlan.plan = plan;
  for (size_t i = 0; i < stageGraphs->size(); ++i) {
    Graph& stage = (*stageGraphs)[i];
    stage.name = fmt::format("{}-stage{}", graph.name, i);
    Result<GraphAnalysis> analysis = analyzeGraph(stage);
    if (!analysis) return Error{fmt::format("stage {}: {}", i, analysis.error().message)};
    const planner::StagePlan& placed = plan.stages[i];
    FleetStage s;
    s.index = static_cast<uint32_t>(i);
    s.agent = deviceNames.at(placed.device);
    s.begin = placed.begin;
    s.end = placed.end;
    s.predictedSeconds = placed.computeSeconds;
    s.sendBytes = placed.sendBytes;
    for (const ValueInfo& in : stage.inputs) s.inputs.push_back({in.name, analysis->typeOf(in.name)});
    for (const ValueInfo& out : stage.outputs) s.outputs.push_back({out.name, analysis->typeOf(out.name)});
    std::string bytes = exportOnnxModel(stage).SerializeAsString();
    s.hash = proto::contentHash(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    s.graphBytes = bytes.size();
    fleetPlan.graphs.emplace(s.hash, std::move(bytes));
    fleetPlan.stages.push_back(std::move(s));
  }
  return fleetPlan;
}

}  // namespace cleave::daemon
