// Figures of the stages and edges of a plan that is a graph (any strategy but split's path):
// what a whole graph or a relay costs on a device, what an edge costs on its link, what a
// device's stages need in memory together, and the totals (latency along the critical path,
// energy summed). Plain loops over nodes: the solvers build their plans with these, and the
// tests re-cost plans with them.
#pragma once

#include <cstdint>
#include <vector>

#include "planner/cost_model.h"
#include "planner/plan.h"
#include "planner/problem.h"
#include "runtime/result.h"

namespace cleave::planner {

// The graph a stage runs; null for a relay (and for a graph the problem does not have).
const ModelCosts* stageModel(const StagePlan& stage, const PlanningProblem& problem);

// Sets the stage's macs, seconds, joules, weight and peak bytes from its graph's nodes
// [begin, end) on its device. A relay costs nothing but holds `relayBytes`.
void fillStageFigures(StagePlan& stage, const PlanningProblem& problem, int64_t relayBytes = 0);

// Sets the edge's transfer time and radio energy for `edge.bytes` between its stages' devices
// (nothing between stages on one device); an error when no link joins the devices.
Status fillEdgeFigures(PlanEdge& edge, const std::vector<StagePlan>& stages, const Fleet& fleet);

// What `device` lacks to hold every stage of `plan` placed on it, loaded together.
MemoryShortfall deviceMemory(const Plan& plan, size_t device, const PlanningProblem& problem);

// The longest path through the plan, stages' compute plus edges' transfers, from stage 0 to
// the last stage. Edges must go forward (from < to).
double criticalPathSeconds(const Plan& plan);

// Sets latency (critical path), energy (sum) and cost from the stages' and edges' figures.
void fillTotals(Plan& plan, const Objective& objective);

}  // namespace cleave::planner
