// The plan validity checker every test runs on every plan: each node assigned exactly once and
// in order, the route a real path from source to sink, every stage within its device's memory,
// and the plan's predicted figures equal to a plain recomputation from the problem (loops over
// nodes, not the solvers' prefix sums).
#pragma once

#include "planner/plan.h"
#include "planner/problem.h"
#include "runtime/result.h"

namespace cleave::planner {

Status checkPlan(const Plan& plan, const PlanningProblem& problem);

}  // namespace cleave::planner
