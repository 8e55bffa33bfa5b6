// Exhaustive search for split plans, the reference the solver is tested against: every simple
// route and every vector of cuts on it, each costed with plain loops over the nodes (no prefix
// sums, no shared code with the solver). Header-only, for tests.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "planner/problem.h"

namespace cleave::planner::testing {

struct BruteForce {
  std::vector<double> costs;  // of every feasible assignment, ascending
  double bestUnconstrained = std::numeric_limits<double>::infinity();
  std::vector<size_t> bestRoute;  // of the cheapest feasible assignment
  std::vector<int64_t> bestCuts;
};

// Cost of devices route[i] running [cuts[i-1], cuts[i]) and sending across cuts[i]; nullopt-like
// infinity when a stage does not fit (unless memory is ignored).
inline double bruteCost(const PlanningProblem& problem, const std::vector<size_t>& route, const std::vector<int64_t>& bounds,
                 bool checkMemory) {
  const ModelCosts& model = problem.model;
  double cost = 0;
  for (size_t i = 0; i < route.size(); ++i) {
    const DeviceProfile& device = problem.fleet.devices[route[i]];
    int64_t begin = bounds[i], end = bounds[i + 1];
    double seconds = 0, joules = 0;
    int64_t weights = 0, held = 0, workspace = 0, peak = model.cutBytes[static_cast<size_t>(begin)];
    bool precisions = true;
    for (int64_t n = begin; n < end; ++n) {
      const NodeCost& node = model.nodes[static_cast<size_t>(n)];
      seconds += static_cast<double>(node.macs) / device.rate(node.opClass) + device.nodeOverheadSeconds;
      joules += static_cast<double>(node.macs) * device.joulesPerMac;
      weights += node.weightBytes;
      held += node.kernelBytes;
      workspace = std::max(workspace, node.workspaceBytes);
      peak = std::max(peak, node.liveBytes);
      precisions = precisions && device.runs(node.int8);
    }
    held += workspace;
    bool fits = precisions && (device.flashBytes ? weights <= *device.flashBytes && peak + held <= device.ramBytes
                                                 : weights + peak + held <= device.ramBytes);
    if (checkMemory && !fits) return std::numeric_limits<double>::infinity();
    cost += problem.objective.cost(seconds, joules);
    if (i + 1 < route.size()) {
      double bytes = static_cast<double>(model.cutBytes[static_cast<size_t>(end)]);
      const Link* link = problem.fleet.linkBetween(route[i], route[i + 1]);
      double bandwidth = link->a == route[i] ? link->bytesPerSecond : link->reverseBytesPerSecond;
      cost += problem.objective.cost(link->rttSeconds / 2 + bytes / bandwidth, bytes * device.radioJoulesPerByte);
    }
  }
  return cost;
}

inline BruteForce exhaustive(const PlanningProblem& problem) {
  BruteForce result;
  double bestCost = std::numeric_limits<double>::infinity();
  size_t devices = problem.fleet.devices.size();
  int64_t positions = problem.model.positions();
  std::vector<size_t> route{problem.source};
  std::vector<bool> used(devices, false);
  used[problem.source] = true;
  std::function<void()> walkRoutes = [&] {
    if (route.back() == problem.sink) {
      // Every non-decreasing vector of route.size() - 1 cuts.
      std::vector<int64_t> bounds(route.size() + 1, 0);
      bounds.back() = positions;
      std::function<void(size_t)> walkCuts = [&](size_t i) {
        if (i == route.size()) {
          double cost = bruteCost(problem, route, bounds, true);
          if (std::isfinite(cost)) {
            if (result.costs.empty() || cost < bestCost) {
              bestCost = cost;
              result.bestRoute = route;
              result.bestCuts.assign(bounds.begin() + 1, bounds.end() - 1);
            }
            result.costs.push_back(cost);
          }
          result.bestUnconstrained = std::min(result.bestUnconstrained, bruteCost(problem, route, bounds, false));
          return;
        }
        for (int64_t c = bounds[i - 1]; c <= positions; ++c) {
          bounds[i] = c;
          walkCuts(i + 1);
        }
      };
      walkCuts(1);
      return;
    }
    for (size_t next = 0; next < devices; ++next) {
      if (used[next] || !problem.fleet.linkBetween(route.back(), next)) continue;
      used[next] = true;
      route.push_back(next);
      walkRoutes();
      route.pop_back();
      used[next] = false;
    }
  };
  walkRoutes();
  std::sort(result.costs.begin(), result.costs.end());
  return result;
}

}  // namespace cleave::planner::testing
