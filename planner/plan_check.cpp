#include "planner/plan_check.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

namespace cleave::planner {
namespace {

bool close(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)}); }

}  // namespace

Status checkPlan(const Plan& plan, const PlanningProblem& problem) {
  const Fleet& fleet = problem.fleet;
  const ModelCosts& model = problem.model;
  const std::vector<StagePlan>& stages = plan.stages;
  if (plan.strategy != Strategy::Split) return Error{"only split plans can be checked so far"};
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

}  // namespace cleave::planner
