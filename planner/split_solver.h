// The `split` strategy: the model's nodes, in execution order, cut into consecutive stages
// along a route of devices from the source to the sink (Neurosurgeon, DADS). A device on the
// route may take no nodes and only relay.
//
// On one route it is a dynamic programme over (cut position, device) keeping the k best partial
// plans per state, O(k x devices x positions^2). Routes are the simple paths from source to
// sink in the link graph, searched depth first with each prefix's table shared by every route
// that extends it.
#pragma once

#include <vector>

#include "planner/cost_model.h"
#include "planner/plan.h"
#include "runtime/result.h"

namespace cleave::planner {

struct SplitOptions {
  size_t keep = 3;          // the best plan and this many minus one runner-ups
  size_t maxRoutes = 4096;  // simple paths searched at most (a full mesh has factorially many)
};

struct SplitResult {
  std::vector<Plan> plans;  // best first, distinct assignments, at most options.keep
  size_t routesSearched = 0;
  bool routesTruncated = false;  // maxRoutes was reached
};

// The best plans, or an error saying which node no device can take and what each lacks.
Result<SplitResult> solveSplit(const CostModel& model, const SplitOptions& options = {});

// The best plans on one route (route.front() = source, back() = sink), best first; empty when
// nothing fits.
std::vector<Plan> solveSplitOnRoute(const CostModel& model, const std::vector<size_t>& route, size_t keep);

// Simple paths from source to sink over links with bandwidth in the direction of travel, in a
// deterministic order (neighbours by device index).
std::vector<std::vector<size_t>> simpleRoutes(const Fleet& fleet, size_t source, size_t sink, size_t maxRoutes,
                                              bool* truncated = nullptr);

}  // namespace cleave::planner
