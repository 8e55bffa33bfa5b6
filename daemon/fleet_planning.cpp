#include "daemon/fleet_planning.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "planner/cost_model.h"
#include "planner/early_exit_solver.h"
#include "planner/plan_check.h"
#include "planner/nonn_solver.h"
#include "planner/planner.h"

namespace cleave::daemon {
namespace {

// The problem over online devices only, re-indexed; links whose ends are both online.
Result<OnlinePlan> restrict(const planner::PlanningProblem& problem, const std::set<std::string>& online) {
  OnlinePlan out;
  out.problem = problem;
  planner::Fleet& fleet = out.problem.fleet;
  fleet.devices.clear();
  fleet.links.clear();
  std::vector<int64_t> newIndex(problem.fleet.devices.size(), -1);
  for (size_t i = 0; i < problem.fleet.devices.size(); ++i) {
    if (!online.count(problem.fleet.devices[i].name)) continue;
    newIndex[i] = static_cast<int64_t>(fleet.devices.size());
    fleet.devices.push_back(problem.fleet.devices[i]);
    out.names.push_back(problem.fleet.devices[i].name);
  }
  for (const planner::Link& link : problem.fleet.links)
    if (newIndex[link.a] >= 0 && newIndex[link.b] >= 0)
      fleet.links.push_back({static_cast<size_t>(newIndex[link.a]), static_cast<size_t>(newIndex[link.b]),
                             link.bytesPerSecond, link.reverseBytesPerSecond, link.rttSeconds});
  for (auto [index, role] : {std::pair{problem.source, "source"}, std::pair{problem.sink, "sink"}})
    if (newIndex[index] < 0)
      return Error{fmt::format("the {} '{}' is offline", role, problem.fleet.devices[index].name)};
  out.problem.source = static_cast<size_t>(newIndex[problem.source]);
  out.problem.sink = static_cast<size_t>(newIndex[problem.sink]);
  return out;
}

}  // namespace

Result<OnlinePlan> planOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                              planner::Strategy strategy, const std::vector<planner::Strategy>& allowed) {
  Result<OnlinePlan> restricted = restrict(problem, online);
  if (!restricted) return restricted.error();
  Result<planner::PlanSet> set = planner::makePlan(restricted->problem, strategy, allowed);
  if (!set) return set.error();
  restricted->plan = set->plans.front();
  return restricted;
}

Result<OnlinePlan> evaluateOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                                  const std::vector<std::string>& route, const std::vector<int64_t>& cuts) {
  if (problem.model.cutBytes.empty()) return Error{"the bundle has no split graph"};
  Result<OnlinePlan> restricted = restrict(problem, online);
  if (!restricted) return restricted.error();
  std::vector<size_t> indices;
  for (const std::string& name : route) {
    std::optional<size_t> i = restricted->problem.fleet.deviceIndex(name);
    if (!i) return Error{fmt::format("'{}' is not an online device", name)};
    indices.push_back(*i);
  }
  if (indices.empty() || cuts.size() + 1 != indices.size())
    return Error{fmt::format("a route of {} devices needs {} cuts, not {}", indices.size(),
                             indices.empty() ? 0 : indices.size() - 1, cuts.size())};
  for (size_t i = 0; i < cuts.size(); ++i)
    if (cuts[i] < (i ? cuts[i - 1] : 0) || cuts[i] > restricted->problem.model.positions())
      return Error{fmt::format("cut {} = {} is out of order or beyond the model's {} nodes", i, cuts[i],
                               restricted->problem.model.positions())};
  for (size_t i = 0; i + 1 < indices.size(); ++i)
    if (!restricted->problem.fleet.linkBetween(indices[i], indices[i + 1]))
      return Error{fmt::format("no link joins '{}' and '{}'", route[i], route[i + 1])};
  planner::CostModel model(restricted->problem);
  restricted->plan = model.evaluate(indices, cuts);
  Status valid = planner::checkPlan(restricted->plan, restricted->problem);
  if (!valid) return Error{fmt::format("the plan is not valid: {}", valid.error().message)};
  return restricted;
}

Result<OnlinePlan> reevaluateOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                                    const planner::Plan& plan, const std::vector<std::string>& names) {
  if (plan.strategy == planner::Strategy::Split) {
    std::vector<std::string> route;
    for (size_t d : plan.route()) route.push_back(names.at(d));
    return evaluateOnline(problem, online, route, plan.cuts());
  }
  // Other strategies: the same stages on the same devices (by name) in the restricted fleet.
  Result<OnlinePlan> restricted = restrict(problem, online);
  if (!restricted) return restricted.error();
  planner::Plan mapped = plan;
  for (planner::StagePlan& stage : mapped.stages) {
    std::optional<size_t> device = restricted->problem.fleet.deviceIndex(names.at(stage.device));
    if (!device) return Error{fmt::format("'{}' is not an online device", names.at(stage.device))};
    stage.device = *device;
  }
  Result<planner::Plan> evaluated = planner::reevaluatePlan(restricted->problem, mapped);
  if (!evaluated) return evaluated.error();
  restricted->plan = std::move(*evaluated);
  return restricted;
}

Result<OnlinePlan> evaluateNonnOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                                      const std::vector<std::string>& students, const std::string& fusion) {
  Result<OnlinePlan> restricted = restrict(problem, online);
  if (!restricted) return restricted.error();
  if (!restricted->problem.nonn) return Error{"the bundle has no students"};
  const size_t count = restricted->problem.nonn->students.size();
  if (students.size() != count)
    return Error{fmt::format("the bundle has {} students, the plan places {}", count, students.size())};
  auto indexOf = [&](const std::string& name) -> Result<size_t> {
    std::optional<size_t> i = restricted->problem.fleet.deviceIndex(name);
    if (!i) return Error{fmt::format("'{}' is not an online device", name)};
    return *i;
  };
  std::vector<std::optional<size_t>> devices(count);
  for (size_t k = 0; k < count; ++k) {
    if (students[k].empty()) continue;
    Result<size_t> device = indexOf(students[k]);
    if (!device) return Error{fmt::format("student {}: {}", k, device.error().message)};
    devices[k] = *device;
  }
  if (fusion.empty()) return Error{"the plan has no fusion device"};
  Result<size_t> fusionDevice = indexOf(fusion);
  if (!fusionDevice) return Error{fmt::format("fusion: {}", fusionDevice.error().message)};
  Result<planner::Plan> evaluated = planner::evaluateNonn(restricted->problem, devices, *fusionDevice);
  if (!evaluated) return evaluated.error();
  restricted->plan = std::move(*evaluated);
  return restricted;
}

Result<OnlinePlan> evaluateEarlyExitOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                                           const std::vector<std::string>& blocks, const std::vector<double>& thresholds) {
  Result<OnlinePlan> restricted = restrict(problem, online);
  if (!restricted) return restricted.error();
  if (!restricted->problem.earlyExit) return Error{"the bundle has no early-exit blocks"};
  const planner::EarlyExitModel& model = *restricted->problem.earlyExit;
  if (blocks.size() != model.blocks.size())
    return Error{fmt::format("the bundle has {} blocks, the plan places {}", model.blocks.size(), blocks.size())};
  std::vector<size_t> devices;
  for (size_t k = 0; k < blocks.size(); ++k) {
    std::optional<size_t> i = restricted->problem.fleet.deviceIndex(blocks[k]);
    if (!i) return Error{fmt::format("block {}: '{}' is not an online device", k, blocks[k])};
    devices.push_back(*i);
  }
  const std::vector<std::vector<double>>& candidates = model.statistics.candidates;
  if (thresholds.size() != candidates.size())
    return Error{fmt::format("the bundle has {} exits before the last, the plan sets {} thresholds", candidates.size(),
                             thresholds.size())};
  std::vector<size_t> choice;
  for (size_t e = 0; e < thresholds.size(); ++e) {
    auto at = std::find_if(candidates[e].begin(), candidates[e].end(),
                           [&](double c) { return std::abs(c - thresholds[e]) <= 1e-9; });
    if (at == candidates[e].end())
      return Error{fmt::format("exit {}: {} is not one of its thresholds ({})", e, thresholds[e],
                               fmt::join(candidates[e], ", "))};
    choice.push_back(static_cast<size_t>(at - candidates[e].begin()));
  }
  Result<planner::Plan> evaluated = planner::evaluateEarlyExit(restricted->problem, devices, choice);
  if (!evaluated) return evaluated.error();
  restricted->plan = std::move(*evaluated);
  return restricted;
}

std::string assignmentKey(const planner::Plan& plan, const std::vector<std::string>& names) {
  std::string key = planner::strategyName(plan.strategy);
  for (const planner::StagePlan& s : plan.stages)
    key += fmt::format("|{}:{}{}:{}-{}", names.at(s.device), planner::stageGraphName(s.graph), s.graphIndex, s.begin,
                       s.end);
  for (const planner::PlanEdge& e : plan.edges) key += fmt::format("|{}>{}", e.from, e.to);
  for (size_t choice : plan.exitChoice) key += fmt::format("|t{}", choice);
  return key;
}

}  // namespace cleave::daemon
