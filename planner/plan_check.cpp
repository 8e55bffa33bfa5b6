#include "planner/plan_check.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "planner/nonn_solver.h"
#include "planner/stage_graph.h"

namespace cleave::planner {
namespace {

bool close(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)}); }

Status checkGraphPlan(const Plan& plan, const PlanningProblem& problem);
Status checkEarlyExitPlan(const Plan& plan, const PlanningProblem& problem);

}  // namespace

Status checkPlan(const Plan& plan, const PlanningProblem& problem) {
  const Fleet& fleet = problem.fleet;
  const ModelCosts& model = problem.model;
  const std::vector<StagePlan>& stages = plan.stages;
  if (plan.strategy != Strategy::Split) return checkGraphPlan(plan, problem);
  if (!plan.edges.empty() || !plan.missingStudents.empty()) return Error{"a split plan is a path: it has no edges"};
  if (stages.empty()) return Error{"plan has no stages"};
  if (stages.front().device != problem.source) return Error{"plan does not start on the source device"};
  if (stages.back().device != problem.sink) return Error{"plan does not end on the sink device"};

  std::set<size_t> seen;
  double latency = 0, energy = 0, cost = 0;
  int64_t next = 0;
  for (size_t i = 0; i < stages.size(); ++i) {
    const StagePlan& s = stages[i];
    if (s.device >= fleet.devices.size()) return Error{fmt::format("stage {} names device {}, which does not exist", i, s.device)};
    const DeviceProfile& device = fleet.devices[s.device];
    if (!seen.insert(s.device).second) return Error{fmt::format("device '{}' appears twice on the route", device.name)};
    if (s.begin != next || s.end < s.begin || s.end > model.positions())
      return Error{fmt::format("stage {} on '{}' covers [{}, {}) but must start at {}", i, device.name, s.begin, s.end, next)};
    next = s.end;

    double seconds = 0, joules = 0;
    int64_t macs = 0, weights = 0, held = 0, workspace = 0, peak = model.cutBytes[static_cast<size_t>(s.begin)];
    for (int64_t n = s.begin; n < s.end; ++n) {
      const NodeCost& node = model.nodes[static_cast<size_t>(n)];
      seconds += static_cast<double>(node.macs) / device.rate(node.opClass) + device.nodeOverheadSeconds;
      joules += static_cast<double>(node.macs) * device.joulesPerMac;
      macs += node.macs;
      weights += node.weightBytes;
      held += node.kernelBytes;
      workspace = std::max(workspace, node.workspaceBytes);
      peak = std::max(peak, node.liveBytes);
      if (!device.runs(node.int8))
        return Error{fmt::format("stage {} on '{}' holds {} node '{}', which the device has no kernels for", i,
                                 device.name, node.int8 ? "int8" : "float32", node.name)};
    }
    held += workspace;
    bool fits = device.flashBytes ? weights <= *device.flashBytes && peak + held <= device.ramBytes
                                  : weights + peak + held <= device.ramBytes;
    if (!fits) return Error{fmt::format("stage {} on '{}' does not fit its memory", i, device.name)};
    if (macs != s.macs || weights != s.weightBytes || peak != s.peakBytes || !close(seconds, s.computeSeconds) ||
        !close(joules, s.computeJoules))
      return Error{fmt::format("stage {} on '{}' reports figures that do not match the problem", i, device.name)};

    double sendSeconds = 0, sendJoules = 0;
    if (i + 1 < stages.size()) {
      size_t to = stages[i + 1].device;
      double bandwidth = to < fleet.devices.size() ? fleet.bytesPerSecond(s.device, to) : 0;
      if (bandwidth <= 0) return Error{fmt::format("no link carries stage {}'s output from '{}'", i, device.name)};
      int64_t bytes = model.cutBytes[static_cast<size_t>(s.end)];
      sendSeconds = fleet.linkBetween(s.device, to)->rttSeconds / 2 + static_cast<double>(bytes) / bandwidth;
      sendJoules = static_cast<double>(bytes) * device.radioJoulesPerByte;
      if (bytes != s.sendBytes || !close(sendSeconds, s.transferSeconds) || !close(sendJoules, s.radioJoules))
        return Error{fmt::format("stage {} on '{}' reports a transfer that does not match the problem", i, device.name)};
    } else if (s.sendBytes != 0) {
      return Error{"the last stage claims to send bytes"};
    }
    latency += seconds + sendSeconds;
    energy += joules + sendJoules;
    cost += problem.objective.cost(seconds, joules) + problem.objective.cost(sendSeconds, sendJoules);
  }
  if (next != model.positions()) return Error{fmt::format("plan covers nodes up to {} of {}", next, model.positions())};
  if (!close(latency, plan.latencySeconds) || !close(energy, plan.energyJoules) || !close(cost, plan.cost))
    return Error{fmt::format("plan totals (latency {}, energy {}, cost {}) differ from the recomputation ({}, {}, {})",
                             plan.latencySeconds, plan.energyJoules, plan.cost, latency, energy, cost)};
  return {};
}

namespace {

// Bytes of a tensor by name, for the nonn bundle.
std::optional<int64_t> tensorBytes(const std::string& name, const NonnModel& nonn) {
  if (!nonn.students.empty() && name == nonn.input) return nonn.students.front().graph.cutBytes.front();
  for (const NonnStudent& student : nonn.students)
    if (name == student.features) return student.graph.cutBytes.back();
  if (name == nonn.output) return nonn.fusion.cutBytes.back();
  return std::nullopt;
}

// Each stage's and edge's figures recomputed with plain loops, and every device's memory with
// all its stages loaded together. `relayBytes(i)`: what relay stage i holds.
Status checkFiguresAndMemory(const Plan& plan, const PlanningProblem& problem,
                             const std::function<int64_t(size_t)>& relayBytes) {
  const Fleet& fleet = problem.fleet;
  const std::vector<StagePlan>& stages = plan.stages;
  // Figures, recomputed with plain loops.
  for (size_t i = 0; i < stages.size(); ++i) {
    const StagePlan& s = stages[i];
    const DeviceProfile& device = fleet.devices[s.device];
    double seconds = 0, joules = 0;
    int64_t macs = 0, weights = 0, peak = 0;
    if (const ModelCosts* model = stageModel(s, problem)) {
      peak = model->cutBytes.front();
      for (const NodeCost& node : model->nodes) {
        if (!device.runs(node.int8))
          return Error{fmt::format("stage {} on '{}' holds {} node '{}', which the device has no kernels for", i,
                                   device.name, node.int8 ? "int8" : "float32", node.name)};
        seconds += static_cast<double>(node.macs) / device.rate(node.opClass) + device.nodeOverheadSeconds;
        joules += static_cast<double>(node.macs) * device.joulesPerMac;
        macs += node.macs;
        weights += node.weightBytes;
        peak = std::max(peak, node.liveBytes);
      }
    } else {
      peak = relayBytes(i);
    }
    if (macs != s.macs || weights != s.weightBytes || peak != s.peakBytes || !close(seconds, s.computeSeconds) ||
        !close(joules, s.computeJoules))
      return Error{fmt::format("stage {} on '{}' reports figures that do not match the problem", i, device.name)};
  }
  for (size_t e = 0; e < plan.edges.size(); ++e) {
    const PlanEdge& edge = plan.edges[e];
    const size_t from = stages[edge.from].device, to = stages[edge.to].device;
    double seconds = 0, joules = 0;
    if (from != to) {
      const Link* link = fleet.linkBetween(from, to);
      const double bandwidth = fleet.bytesPerSecond(from, to);
      if (!link || bandwidth <= 0)
        return Error{fmt::format("no link carries edge {} from '{}' to '{}'", e, fleet.devices[from].name, fleet.devices[to].name)};
      seconds = link->rttSeconds / 2 + static_cast<double>(edge.bytes) / bandwidth;
      joules = static_cast<double>(edge.bytes) * fleet.devices[from].radioJoulesPerByte;
    }
    if (!close(seconds, edge.transferSeconds) || !close(joules, edge.radioJoules))
      return Error{fmt::format("edge {} reports a transfer that does not match the problem", e)};
  }
  for (size_t d = 0; d < fleet.devices.size(); ++d) {
    int64_t weights = 0, activations = 0, held = 0;
    for (const StagePlan& s : stages) {
      if (s.device != d) continue;
      weights += s.weightBytes;
      activations += s.peakBytes;
      if (const ModelCosts* model = stageModel(s, problem)) {
        int64_t workspace = 0;
        for (const NodeCost& node : model->nodes) {
          held += node.kernelBytes;
          workspace = std::max(workspace, node.workspaceBytes);
        }
        held += workspace;
      }
    }
    const DeviceProfile& device = fleet.devices[d];
    const bool fits = device.flashBytes ? weights <= *device.flashBytes && activations + held <= device.ramBytes
                                        : weights + activations + held <= device.ramBytes;
    if (!fits) return Error{fmt::format("'{}' cannot hold its stages together", device.name)};
  }
  return {};
}

Status checkGraphPlan(const Plan& plan, const PlanningProblem& problem) {
  const Fleet& fleet = problem.fleet;
  const std::vector<StagePlan>& stages = plan.stages;
  if (plan.strategy == Strategy::EarlyExit) return checkEarlyExitPlan(plan, problem);
  if (plan.strategy != Strategy::Nonn) return Error{fmt::format("{} plans cannot be checked yet", strategyName(plan.strategy))};
  if (!problem.nonn) return Error{"a nonn plan for a problem without a nonn bundle"};
  const NonnModel& nonn = *problem.nonn;
  if (stages.empty()) return Error{"plan has no stages"};
  if (stages.front().device != problem.source) return Error{"stage 0 is not on the source device"};

  // Edges: forward, between stages that exist, carrying named tensors of their size.
  std::vector<std::vector<const PlanEdge*>> incoming(stages.size()), outgoing(stages.size());
  for (size_t e = 0; e < plan.edges.size(); ++e) {
    const PlanEdge& edge = plan.edges[e];
    if (edge.to >= stages.size() || edge.from >= edge.to)
      return Error{fmt::format("edge {} goes from stage {} to stage {}: edges go forward between stages", e,
                               edge.from, edge.to)};
    int64_t bytes = 0;
    for (const std::string& tensor : edge.tensors) {
      std::optional<int64_t> size = tensorBytes(tensor, nonn);
      if (!size) return Error{fmt::format("edge {} carries '{}', which no graph of the bundle has", e, tensor)};
      bytes += *size;
    }
    if (edge.tensors.empty() || bytes != edge.bytes)
      return Error{fmt::format("edge {} claims {} bytes for tensors of {}", e, edge.bytes, bytes)};
    incoming[edge.to].push_back(&edge);
    outgoing[edge.from].push_back(&edge);
  }
  for (size_t i = 0; i < stages.size(); ++i) {
    if (i > 0 && incoming[i].empty()) return Error{fmt::format("stage {} receives nothing", i)};
    if (i + 1 < stages.size() && outgoing[i].empty()) return Error{fmt::format("stage {} sends nothing", i)};
  }
  if (!outgoing.back().empty() || stages.back().device != problem.sink)
    return Error{"the plan does not end with one stage on the sink device"};

  // Every student placed once on a device of its own, or listed as missing; one fusion.
  std::vector<int> placed(nonn.students.size(), 0);
  std::set<size_t> studentDevices;
  size_t fusions = 0;
  for (size_t i = 0; i < stages.size(); ++i) {
    const StagePlan& s = stages[i];
    if (s.device >= fleet.devices.size()) return Error{fmt::format("stage {} names device {}, which does not exist", i, s.device)};
    if (s.graph == StageGraph::Model) return Error{fmt::format("stage {} runs the split graph in a nonn plan", i)};
    if (s.graph == StageGraph::Student) {
      if (s.graphIndex >= nonn.students.size()) return Error{fmt::format("stage {} runs student {}, which does not exist", i, s.graphIndex)};
      ++placed[s.graphIndex];
      if (!studentDevices.insert(s.device).second)
        return Error{fmt::format("two students share '{}'", fleet.devices[s.device].name)};
    }
    if (s.graph == StageGraph::Fusion) ++fusions;
    const ModelCosts* model = stageModel(s, problem);
    const int64_t positions = model ? model->positions() : 0;
    if (s.begin != 0 || s.end != positions)
      return Error{fmt::format("stage {} covers [{}, {}) of a graph of {} nodes: nonn stages run whole graphs", i,
                               s.begin, s.end, positions)};
  }
  if (fusions != 1) return Error{fmt::format("{} fusion stages; a nonn plan has one", fusions)};
  std::vector<bool> present(nonn.students.size());
  for (size_t k = 0; k < nonn.students.size(); ++k) {
    const bool missing = std::find(plan.missingStudents.begin(), plan.missingStudents.end(), k) != plan.missingStudents.end();
    if (placed[k] > 1 || (placed[k] == 1) == missing)
      return Error{fmt::format("student {} is placed {} times and {} as missing", k, placed[k], missing ? "listed" : "not listed")};
    present[k] = placed[k] == 1;
  }
  if (plan.missingStudents.size() == nonn.students.size()) return Error{"no student is placed"};

  // Inputs available: each stage receives exactly what its graph reads.
  for (size_t i = 1; i < stages.size(); ++i) {
    std::multiset<std::string> arriving;
    for (const PlanEdge* edge : incoming[i]) arriving.insert(edge->tensors.begin(), edge->tensors.end());
    std::multiset<std::string> wanted;
    switch (stages[i].graph) {
      case StageGraph::Student: wanted = {nonn.input}; break;
      case StageGraph::Fusion:
        for (size_t k = 0; k < nonn.students.size(); ++k)
          if (present[k]) wanted.insert(nonn.students[k].features);
        break;
      default: wanted = {nonn.output}; break;
    }
    if (arriving != wanted) return Error{fmt::format("stage {} does not receive exactly the tensors its graph reads", i)};
  }

  CLEAVE_TRY(checkFiguresAndMemory(plan, problem, [&](size_t i) {
    return i == 0 ? *tensorBytes(nonn.input, nonn) : nonn.fusion.cutBytes.back();
  }));
  // Latency: the longest path, by a depth-first search over every path from stage 0.
  std::function<double(size_t)> longestFrom = [&](size_t i) {
    double after = 0;
    for (const PlanEdge* edge : outgoing[i]) after = std::max(after, edge->transferSeconds + longestFrom(edge->to));
    return stages[i].computeSeconds + after;
  };
  const double latency = longestFrom(0);
  double energy = 0;
  for (const StagePlan& s : stages) energy += s.computeJoules;
  for (const PlanEdge& edge : plan.edges) energy += edge.radioJoules;
  const double cost = problem.objective.cost(latency, energy);
  if (!close(latency, plan.latencySeconds) || !close(energy, plan.energyJoules) || !close(cost, plan.cost))
    return Error{fmt::format("plan totals (latency {}, energy {}, cost {}) differ from the recomputation ({}, {}, {})",
                             plan.latencySeconds, plan.energyJoules, plan.cost, latency, energy, cost)};
  if (!close(plan.accuracy, nonnAccuracy(nonn, present))) return Error{"the plan's accuracy is not the bundle's figure"};
  return {};
}


// An early_exit plan: an optional relay on the source, then every block once, in order, each
// fed by the stage before along one edge carrying what the block receives; figures and memory
// recomputed; the means recomputed request by request (a request finishing at block k pays
// every hop and block up to k, then its result's trip back to the source), not by the solver's sums.
Status checkEarlyExitPlan(const Plan& plan, const PlanningProblem& problem) {
  if (!problem.earlyExit) return Error{"an early_exit plan for a problem without early-exit blocks"};
  const EarlyExitModel& model = *problem.earlyExit;
  const ExitStatistics& stats = model.statistics;
  const Fleet& fleet = problem.fleet;
  const std::vector<StagePlan>& stages = plan.stages;
  const size_t blocks = model.blocks.size();
  if (stages.empty()) return Error{"plan has no stages"};
  if (stages.front().device != problem.source) return Error{"stage 0 is not on the source device"};
  const size_t first = stages.front().graph == StageGraph::Relay ? 1 : 0;
  if (stages.size() != first + blocks) return Error{fmt::format("{} stages for {} blocks", stages.size(), blocks)};
  for (size_t k = 0; k < blocks; ++k) {
    const StagePlan& s = stages[first + k];
    if (s.device >= fleet.devices.size()) return Error{fmt::format("stage {} names a device that does not exist", first + k)};
    if (s.graph != StageGraph::Block || s.graphIndex != k || s.begin != 0 || s.end != model.blocks[k].graph.positions())
      return Error{fmt::format("stage {} does not run block {} whole", first + k, k)};
  }
  if (plan.edges.size() + 1 != stages.size()) return Error{"an early_exit plan is a chain of stages"};
  for (size_t e = 0; e < plan.edges.size(); ++e) {
    const PlanEdge& edge = plan.edges[e];
    const size_t k = e + 1 - first;  // the block it feeds
    const EdgeKind kind = k == 0 ? EdgeKind::Always : EdgeKind::UnlessExited;
    if (edge.from != e || edge.to != e + 1 || edge.kind != kind || edge.tensors != model.blocks[k].receives ||
        edge.bytes != model.blocks[k].receiveBytes)
      return Error{fmt::format("edge {} does not carry what block {} receives from the stage before", e, k)};
  }
  CLEAVE_TRY(checkFiguresAndMemory(plan, problem, [&](size_t) { return model.blocks.front().receiveBytes; }));

  if (plan.exitChoice.size() != stats.candidates.size()) return Error{"the plan does not choose every exit's threshold"};
  for (size_t e = 0; e < plan.exitChoice.size(); ++e)
    if (plan.exitChoice[e] >= stats.candidates[e].size() || plan.exitThresholds.size() != plan.exitChoice.size() ||
        plan.exitThresholds[e] != stats.candidates[e][plan.exitChoice[e]])
      return Error{fmt::format("exit {}'s threshold is not one of its candidates", e)};
  const size_t row = stats.row(plan.exitChoice);
  double latency = 0, energy = 0;
  int64_t correct = 0;
  double seconds = 0, joules = 0;  // of a request that has run everything up to block k
  for (size_t i = 0; i < stages.size(); ++i) {
    if (i > 0) {
      seconds += plan.edges[i - 1].transferSeconds;
      joules += plan.edges[i - 1].radioJoules;
    }
    seconds += stages[i].computeSeconds;
    joules += stages[i].computeJoules;
    if (i < first) continue;
    const size_t k = i - first;
    double resultSeconds = 0, resultJoules = 0;
    if (stages[i].device != problem.source) {
      const Link* link = fleet.linkBetween(stages[i].device, problem.source);
      if (!link) return Error{fmt::format("block {}'s results cannot reach the source", k)};
      const auto bytes = static_cast<double>(model.blocks[k].exitBytes);
      resultSeconds = link->rttSeconds / 2 + bytes / fleet.bytesPerSecond(stages[i].device, problem.source);
      resultJoules = bytes * fleet.devices[stages[i].device].radioJoulesPerByte;
    }
    const double share = static_cast<double>(stats.exited[row][k]) / static_cast<double>(stats.samples);
    if (plan.exitFractions.size() != blocks || !close(share, plan.exitFractions[k]))
      return Error{fmt::format("block {}'s exit fraction is not the statistics'", k)};
    latency += share * (seconds + resultSeconds);
    energy += share * (joules + resultJoules);
    correct += stats.correct[row][k];
  }
  const double cost = problem.objective.cost(latency, energy);
  if (!close(latency, plan.latencySeconds) || !close(energy, plan.energyJoules) || !close(cost, plan.cost))
    return Error{fmt::format("plan totals (latency {}, energy {}, cost {}) differ from the recomputation ({}, {}, {})",
                             plan.latencySeconds, plan.energyJoules, plan.cost, latency, energy, cost)};
  if (!close(plan.accuracy, static_cast<double>(correct) / static_cast<double>(stats.samples)))
    return Error{"the plan's accuracy is not the statistics'"};
  return {};
}

}  // namespace

}  // namespace cleave::planner
