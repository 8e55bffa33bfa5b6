#include "config/fleet_config.h"

#include <fmt/format.h>

namespace cleave::config {

planner::PlanningProblem planningProblem(const Topology& topology, const ModelBundle& bundle) {
  planner::PlanningProblem problem;
  problem.fleet = topology.fleet;
  problem.model = modelCosts(bundle.report);
  if (bundle.nonn) problem.nonn = nonnModel(*bundle.nonn, bundle.top1.value_or(0));
  if (bundle.earlyExit) problem.earlyExit = earlyExitModel(*bundle.earlyExit);
  problem.source = *topology.fleet.deviceIndex(topology.model.source);
  problem.sink = *topology.fleet.deviceIndex(topology.model.sink);
  problem.objective = topology.model.objective;
  problem.constraints = topology.model.constraints;
  return problem;
}

Result<FleetConfig> loadFleetConfig(const std::string& path, const std::string& modelOverride) {
  Result<Topology> topology = loadTopology(path);
  if (!topology) return topology.error();
  std::string bundlePath = modelOverride.empty() ? topology->model.bundle : modelOverride;
  Result<ModelBundle> bundle = loadBundle(bundlePath, topology->model.optimize);
  if (!bundle) {
    if (!modelOverride.empty()) return bundle.error();
    const toml::source_position& at = topology->model.bundleWhere.begin;
    return Error{fmt::format("{}:{}:{}: error: [model]: 'bundle' does not load: {}", path, at.line, at.column,
                             bundle.error().message)};
  }
  FleetConfig config;
  config.problem = planningProblem(*topology, *bundle);
  if (config.problem.constraints.accuracyDrop) {
    // The drop is measured from the last block answering everything, on the held-out statistics.
    if (!config.problem.earlyExit)
      return Error{fmt::format("{}: error: [model]: 'accuracy_drop' only applies to early_exit bundles, and {} is not one",
                               path, bundlePath)};
    if (!config.problem.earlyExit->statistics.lastBlockOnlyRow())
      return Error{fmt::format("{}: error: [model]: 'accuracy_drop' is measured from the last block answering every "
                               "input, and the statistics of {} have no such thresholds (a candidate above 1 for "
                               "every exit)", path, bundlePath)};
  }
  config.allowed = allowedStrategies(*bundle);
  config.topology = std::move(*topology);
  config.bundle = std::move(*bundle);
  return config;
}

}  // namespace cleave::config
