// Planning for the agents that are online: the topology's problem restricted to them, solved,
// and mapped back to device names. Pure: the daemon calls it on every change of the fleet.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "planner/plan.h"
#include "planner/problem.h"
#include "runtime/result.h"

namespace cleave::daemon {

struct OnlinePlan {
  planner::Plan plan;                 // device indices refer to `names`
  std::vector<std::string> names;     // device names of the restricted fleet
  planner::PlanningProblem problem;   // the restricted problem the plan was made for
};

// `problem` is the whole topology's; `online` the devices whose agents are up (with their
// registered profiles already in `problem`). Plans with `strategy` (auto: the cheapest of
// `allowed`). Fails when the source or sink is offline or nothing fits.
Result<OnlinePlan> planOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                              planner::Strategy strategy = planner::Strategy::Split,
                              const std::vector<planner::Strategy>& allowed = {planner::Strategy::Split});

// Evaluates a given nonn placement (for `plan apply`): student k on the device named
// students[k] ("" leaves it out), the fusion on `fusion`.
Result<OnlinePlan> evaluateNonnOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                                      const std::vector<std::string>& students, const std::string& fusion);

// Evaluates a given early_exit placement (for `plan apply`): block k on the device named
// blocks[k], exit e's threshold thresholds[e] (one of the bundle's candidates).
Result<OnlinePlan> evaluateEarlyExitOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                                           const std::vector<std::string>& blocks, const std::vector<double>& thresholds);

// A running plan re-costed under `problem`'s figures (links moved): the same devices doing the
// same work, by name. An error when it can no longer run (a device offline, a link gone, memory).
Result<OnlinePlan> reevaluateOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                                    const planner::Plan& plan, const std::vector<std::string>& names);

// Which device runs what and what travels where, by device name: plans with equal keys make the
// same assignment, whatever their fleets' device numbering.
std::string assignmentKey(const planner::Plan& plan, const std::vector<std::string>& names);

// Evaluates a given assignment (for `plan apply`): route by device names and cuts.
Result<OnlinePlan> evaluateOnline(const planner::PlanningProblem& problem, const std::set<std::string>& online,
                                  const std::vector<std::string>& route, const std::vector<int64_t>& cuts);

}  // namespace cleave::daemon
