// The planner's front door: one call per strategy, or `auto` to try every strategy the model
// bundle allows and keep the cheapest. Solvers for `clio`, `nonn` and `early_exit` plug in here
// (their bundles carry more than one graph; see ../../docs/architecture.md).
#pragma once

#include <string>
#include <vector>

#include "planner/plan.h"
#include "planner/problem.h"
#include "planner/split_solver.h"
#include "runtime/result.h"

namespace cleave::planner {

struct PlanSet {
  Strategy strategy = Strategy::Split;  // the strategy that produced `plans`
  std::vector<Plan> plans;              // best first, then runner-ups
  std::vector<std::string> notes;       // things the operator should know (an SLO missed, routes cut short)
};

// Plans `problem` with `strategy` (Auto: every strategy in `allowed`, cheapest best plan wins).
Result<PlanSet> makePlan(const PlanningProblem& problem, Strategy strategy, const std::vector<Strategy>& allowed,
                         const SplitOptions& options = {});

// `plan`'s assignment (same devices, same work) costed under `problem`'s figures, any strategy:
// what it costs now that a link moved. An error when it cannot run there (a link gone, memory).
Result<Plan> reevaluatePlan(const PlanningProblem& problem, const Plan& plan);

}  // namespace cleave::planner
