#include "daemon/fleet_plan.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "runtime/analysis.h"
#include "runtime/onnx_export.h"
#include "runtime/stages.h"

namespace cleave::daemon {

std::vector<std::string> FleetPlan::peersOf(const std::string& agent) const {
  std::set<std::string> peers;
  for (const FleetStage& s : stages) {
    if (s.agent != agent) continue;
    for (const proto::RouteSpec& route : s.next) peers.insert(route.agent);
    for (const proto::RouteSpec& route : s.upstream) peers.insert(route.agent);
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

wire::Strategy wireStrategy(planner::Strategy strategy) {
  switch (strategy) {
    case planner::Strategy::Clio: return wire::Strategy::CLIO;
    case planner::Strategy::Nonn: return wire::Strategy::NONN;
    case planner::Strategy::EarlyExit: return wire::Strategy::EARLY_EXIT;
    default: return wire::Strategy::SPLIT;
  }
}

wire::EdgeKind wireEdgeKind(planner::EdgeKind kind) {
  switch (kind) {
    case planner::EdgeKind::UnlessExited: return wire::EdgeKind::UNLESS_EXITED;
    case planner::EdgeKind::ChannelPrefix: return wire::EdgeKind::CHANNEL_PREFIX;
    default: return wire::EdgeKind::ALWAYS;
  }
}

void fillPlanSummary(wire::PlanSummary::Builder summary, const FleetPlan& plan, bool installed) {
  summary.setEpoch(installed ? plan.epoch : 0);
  summary.setStrategy(wireStrategy(plan.plan.strategy));
  summary.setPredictedLatencySeconds(plan.plan.latencySeconds);
  summary.setPredictedEnergyJoules(plan.plan.energyJoules);
  summary.setExpectedAccuracy(plan.plan.accuracy);
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
    stages[i].setLabel(s.label);
  }
  auto edges = summary.initEdges(static_cast<unsigned>(plan.plan.edges.size()));
  for (unsigned i = 0; i < edges.size(); ++i) {
    const planner::PlanEdge& e = plan.plan.edges[i];
    edges[i].setFrom(static_cast<uint32_t>(e.from));
    edges[i].setTo(static_cast<uint32_t>(e.to));
    auto tensors = edges[i].initTensors(static_cast<unsigned>(e.tensors.size()));
    for (unsigned j = 0; j < tensors.size(); ++j) tensors.set(j, e.tensors[j]);
    edges[i].setBytes(e.bytes);
    edges[i].setTransferSeconds(e.transferSeconds);
    edges[i].setKind(wireEdgeKind(e.kind));
  }
  auto missing = summary.initMissing(static_cast<unsigned>(plan.plan.missingStudents.size()));
  for (unsigned i = 0; i < missing.size(); ++i) missing.set(i, fmt::format("student {}", plan.plan.missingStudents[i]));
  auto thresholds = summary.initExitThresholds(static_cast<unsigned>(plan.plan.exitThresholds.size()));
  for (unsigned i = 0; i < thresholds.size(); ++i) thresholds.set(i, plan.plan.exitThresholds[i]);
  auto fractions = summary.initExitFractions(static_cast<unsigned>(plan.plan.exitFractions.size()));
  for (unsigned i = 0; i < fractions.size(); ++i) fractions.set(i, plan.plan.exitFractions[i]);
}

proto::PlanSpec planSpecFor(const FleetPlan& plan, const std::string& agent, const std::string& model) {
  proto::PlanSpec spec;
  spec.epoch = plan.epoch;
  spec.strategy = wireStrategy(plan.plan.strategy);
  spec.model = model.substr(0, proto::MAX_MODEL_NAME_BYTES);
  spec.abandonBefore = plan.abandonBefore;
  for (const FleetStage* s : plan.stagesOf(agent)) {
    proto::StageSpec stage;
    stage.stage = s->index;
    stage.graphHash = s->hash;
    stage.graphBytes = s->graphBytes;
    for (const NamedType& in : s->inputs) stage.inputs.push_back({in.name, in.type});
    for (const NamedType& out : s->outputs) stage.outputs.push_back({out.name, out.type});
    stage.next = s->next;
    stage.upstream = s->upstream;
    stage.zeroedInputs = s->zeroedInputs;
    stage.label = s->label.substr(0, proto::MAX_LABEL_BYTES);
    stage.exitOutput = s->exitOutput;
    stage.exitThreshold = static_cast<float>(s->exitThreshold);
    stage.predictedSeconds = s->predictedSeconds;
    spec.stages.push_back(std::move(stage));
  }
  for (const std::string& peer : plan.peersOf(agent)) spec.peers.push_back({peer, {}, {}});
  spec.entry = proto::RouteSpec{plan.origin(), 0, {}, wire::EdgeKind::ALWAYS};
  return spec;
}

namespace {

// Serialises, hashes and types one stage graph.
Status finishStage(Graph& graph, FleetStage& stage, FleetPlan& fleetPlan) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return Error{fmt::format("stage {}: {}", stage.index, analysis.error().message)};
  for (const ValueInfo& in : graph.inputs) stage.inputs.push_back({in.name, analysis->typeOf(in.name)});
  for (const ValueInfo& out : graph.outputs) stage.outputs.push_back({out.name, analysis->typeOf(out.name)});
  std::string bytes = exportOnnxModel(graph).SerializeAsString();
  stage.hash = proto::contentHash(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  stage.graphBytes = bytes.size();
  fleetPlan.graphs.emplace(stage.hash, std::move(bytes));
  return {};
}

// The types of every graph input and output of the bundle's stage graphs, by name.
std::map<std::string, TensorType> bundleTensorTypes(const config::ModelBundle& bundle) {
  if (bundle.earlyExit) return bundle.earlyExit->types;
  std::map<std::string, TensorType> types;
  if (!bundle.nonn) return types;
  auto add = [&](const Graph& graph) {
    Result<GraphAnalysis> analysis = analyzeGraph(graph);
    if (!analysis) return;
    for (const ValueInfo& v : graph.inputs) types[v.name] = analysis->typeOf(v.name);
    for (const ValueInfo& v : graph.outputs) types[v.name] = analysis->typeOf(v.name);
  };
  for (const config::NonnStudentGraph& student : bundle.nonn->students) add(student.graph);
  add(bundle.nonn->fusion.graph);
  return types;
}

// `graph` passing `names` on as well: each one it does not output becomes an output, and an
// input too when it does not read it (a relay is an empty graph passing everything on; an
// early-exit block passes on the request's input for a later block that reads it).
Result<Graph> passingOn(Graph graph, const std::vector<std::string>& names, const std::map<std::string, TensorType>& types) {
  auto has = [](const std::vector<ValueInfo>& list, const std::string& name) {
    return std::any_of(list.begin(), list.end(), [&](const ValueInfo& v) { return v.name == name; });
  };
  for (const std::string& name : names) {
    if (has(graph.outputs, name)) continue;
    auto type = types.find(name);
    if (type == types.end()) return Error{fmt::format("a stage passes on '{}', which no graph has", name)};
    if (!has(graph.inputs, name)) graph.inputs.push_back({name, type->second});
    graph.outputs.push_back({name, type->second});
  }
  return graph;
}

// A stage graph of a nonn or early_exit bundle for `placed`, passing `forwarded` on when the
// graph does not produce it.
Result<Graph> bundleStageGraph(const config::ModelBundle& bundle, const planner::StagePlan& placed,
                               const std::vector<std::string>& forwarded, const std::map<std::string, TensorType>& types) {
  switch (placed.graph) {
    case planner::StageGraph::Student:
      if (!bundle.nonn || placed.graphIndex >= bundle.nonn->students.size())
        return Error{fmt::format("no student {}", placed.graphIndex)};
      return bundle.nonn->students[placed.graphIndex].graph;
    case planner::StageGraph::Fusion:
      if (!bundle.nonn) return Error{"no fusion graph"};
      return bundle.nonn->fusion.graph;
    case planner::StageGraph::Block:
      if (!bundle.earlyExit || placed.graphIndex >= bundle.earlyExit->blocks.size())
        return Error{fmt::format("no block {}", placed.graphIndex)};
      return passingOn(bundle.earlyExit->blocks[placed.graphIndex].graph, forwarded, types);
    case planner::StageGraph::Relay:
      return passingOn(Graph{}, forwarded, types);
    case planner::StageGraph::Model:
      break;
  }
  return Error{"a plan of stage graphs runs no range of the split graph"};
}

std::string stageLabel(const planner::StagePlan& placed) {
  switch (placed.graph) {
    case planner::StageGraph::Student: return fmt::format("student {}", placed.graphIndex);
    case planner::StageGraph::Fusion: return "fusion";
    case planner::StageGraph::Block: return fmt::format("block {}", placed.graphIndex);
    case planner::StageGraph::Relay: return "relay";
    case planner::StageGraph::Model: break;
  }
  return placed.begin == placed.end ? "relay" : fmt::format("nodes {}-{}", placed.begin, placed.end - 1);
}

Result<FleetPlan> buildGraphPlan(const config::ModelBundle& bundle, const planner::Plan& plan,
                                 const std::vector<std::string>& deviceNames) {
  if (!bundle.nonn && !bundle.earlyExit) return Error{"a plan of stage graphs needs a bundle with more than one graph"};
  FleetPlan fleetPlan;
  fleetPlan.plan = plan;
  fleetPlan.names = deviceNames;
  std::vector<FleetStage> stages(plan.stages.size());
  for (size_t i = 0; i < stages.size(); ++i) {
    stages[i].index = static_cast<uint32_t>(i);
    stages[i].agent = deviceNames.at(plan.stages[i].device);
    stages[i].label = stageLabel(plan.stages[i]);
    stages[i].begin = plan.stages[i].begin;
    stages[i].end = plan.stages[i].end;
    stages[i].predictedSeconds = plan.stages[i].computeSeconds;
  }
  // What each relay passes through: what it sends on, or for the last stage what it receives.
  std::vector<std::vector<std::string>> forwarded(stages.size()), received(stages.size());
  auto addName = [](std::vector<std::string>& names, const std::string& name) {
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  };
  for (const planner::PlanEdge& e : plan.edges) {
    if (e.from >= stages.size() || e.to >= stages.size()) return Error{"an edge names a stage the plan lacks"};
    const wire::EdgeKind kind = wireEdgeKind(e.kind);
    stages[e.from].next.push_back({stages[e.to].agent, static_cast<uint32_t>(e.to), e.tensors, kind});
    stages[e.to].upstream.push_back({stages[e.from].agent, static_cast<uint32_t>(e.from), e.tensors, kind});
    if (stages[e.from].agent != stages[e.to].agent) stages[e.from].sendBytes += e.bytes;
    for (const std::string& t : e.tensors) {
      addName(forwarded[e.from], t);
      addName(received[e.to], t);
    }
  }
  const std::map<std::string, TensorType> types = bundleTensorTypes(bundle);
  for (size_t i = 0; i < stages.size(); ++i) {
    const planner::StagePlan& placed = plan.stages[i];
    if (placed.graph == planner::StageGraph::Fusion)
      for (uint32_t k : plan.missingStudents) stages[i].zeroedInputs.push_back(bundle.nonn->students.at(k).output);
    if (placed.graph == planner::StageGraph::Block) {
      // Every block has an exit head; the last one's takes every request that reaches it.
      const size_t k = placed.graphIndex;
      stages[i].exitOutput = bundle.earlyExit->blocks.at(k).exit;
      stages[i].exitThreshold = k < plan.exitThresholds.size() ? plan.exitThresholds[k] : 0.0;
    }
    // A relay passes on what it sends, or as the last stage what it receives.
    const bool relayAtEnd = placed.graph == planner::StageGraph::Relay && forwarded[i].empty();
    Result<Graph> graph = bundleStageGraph(bundle, placed, relayAtEnd ? received[i] : forwarded[i], types);
    if (!graph) return Error{fmt::format("stage {}: {}", i, graph.error().message)};
    graph->name = fmt::format("{}-stage{}-{}", bundle.name, i, stageGraphName(placed.graph));
    CLEAVE_TRY(finishStage(*graph, stages[i], fleetPlan));
  }
  fleetPlan.stages = std::move(stages);
  return fleetPlan;
}

}  // namespace

Result<FleetPlan> buildFleetPlan(const Graph& graph, const planner::Plan& plan,
                                 const std::vector<std::string>& deviceNames) {
  std::vector<int64_t> cuts = plan.cuts();
  Result<std::vector<Graph>> stageGraphs = extractStages(graph, cuts);
  if (!stageGraphs) return stageGraphs.error();
  FleetPlan fleetPlan;
  fleetPlan.plan = plan;
  fleetPlan.names = deviceNames;
  for (size_t i = 0; i < stageGraphs->size(); ++i) {
    Graph& stage = (*stageGraphs)[i];
    stage.name = fmt::format("{}-stage{}", graph.name, i);
    const planner::StagePlan& placed = plan.stages[i];
    FleetStage s;
    s.index = static_cast<uint32_t>(i);
    s.agent = deviceNames.at(placed.device);
    s.label = stageLabel(placed);
    s.begin = placed.begin;
    s.end = placed.end;
    s.predictedSeconds = placed.computeSeconds;
    s.sendBytes = placed.sendBytes;
    CLEAVE_TRY(finishStage(stage, s, fleetPlan));
    fleetPlan.stages.push_back(std::move(s));
  }
  // A path: each stage sends all its outputs to the next.
  std::vector<FleetStage>& stages = fleetPlan.stages;
  for (size_t i = 0; i + 1 < stages.size(); ++i) {
    stages[i].next.push_back({stages[i + 1].agent, static_cast<uint32_t>(i + 1), {}, wire::EdgeKind::ALWAYS});
    stages[i + 1].upstream.push_back({stages[i].agent, static_cast<uint32_t>(i), {}, wire::EdgeKind::ALWAYS});
  }
  return fleetPlan;
}

Result<FleetPlan> buildFleetPlan(const config::ModelBundle& bundle, const planner::Plan& plan,
                                 const std::vector<std::string>& deviceNames) {
  if (plan.isPath()) return buildFleetPlan(bundle.graph, plan, deviceNames);
  return buildGraphPlan(bundle, plan, deviceNames);
}

}  // namespace cleave::daemon
