// A topology file with its model bundle loaded: everything needed to plan, in one value.
#pragma once

#include <string>
#include <vector>

#include "config/bundle.h"
#include "config/topology.h"
#include "planner/problem.h"
#include "runtime/result.h"

namespace cleave::config {

struct FleetConfig {
  Topology topology;
  ModelBundle bundle;
  planner::PlanningProblem problem;
  std::vector<planner::Strategy> allowed;  // strategies the bundle supports
};

// Loads the topology and its bundle. `modelOverride`, when not empty, replaces [model] bundle
// (a path relative to the working directory). A bundle that fails to load is reported at the
// `bundle` key's file:line:column.
Result<FleetConfig> loadFleetConfig(const std::string& path, const std::string& modelOverride = "");

// The planning problem for a topology and a loaded bundle.
planner::PlanningProblem planningProblem(const Topology& topology, const ModelBundle& bundle);

}  // namespace cleave::config
