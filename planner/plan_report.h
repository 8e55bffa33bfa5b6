// Plans as people and programs read them: a table per plan, one line per runner-up or curve
// segment, and JSON. Pure formatting; the CLI and the daemon print these.
#pragma once

#include <string>

#include "planner/bandwidth_curve.h"
#include "planner/plan.h"
#include "planner/planner.h"
#include "planner/problem.h"

namespace cleave::planner {

// One row per device on the route: its nodes, MACs, predicted compute, bytes sent and transfer.
std::string planTable(const Plan& plan, const PlanningProblem& problem);
// "camera [0, 5) -> pi1 [5, 24) -> cloud (relay)" with its latency, energy and cost.
std::string planSummary(const Plan& plan, const PlanningProblem& problem);
// A plan set: best plan as a table, then runner-ups and notes.
std::string planSetText(const PlanSet& set, const PlanningProblem& problem);
std::string planSetJson(const PlanSet& set, const PlanningProblem& problem);
// One line per segment: bandwidth range and the plan that is best across it.
std::string curveText(const BandwidthCurve& curve, const PlanningProblem& problem);
std::string curveJson(const BandwidthCurve& curve, const PlanningProblem& problem);

}  // namespace cleave::planner
