// The split solver against exhaustive search: every route and every cut vector, costed with
// plain loops over the nodes, on random problems with skip connections and binding memory.
#include "planner/split_solver.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "planner/cost_model.h"
#include "planner/plan_check.h"
#include "planner/random_problem.h"

namespace cleave::planner {
namespace {

struct BruteForce {
  std::vector<double> costs;  // of every feasible assignment, ascending
  double bestUnconstrained = std::numeric_limits<double>::infinity();
};

// Cost of devices route[i] running [cuts[i-1], cuts[i]) and sending across cuts[i]; nullopt-like
// infinity when a stage does not fit (unless memory is ignored).
double bruteCost(const PlanningProblem& problem, const std::vector<size_t>& route, const std::vector<int64_t>& bounds,
                 bool checkMemory) {
  const ModelCosts& model = problem.model;
  double cost = 0;
  for (size_t i = 0; i < route.size(); ++i) {
    const DeviceProfile& device = problem.fleet.devices[route[i]];
    int64_t begin = bounds[i], end = bounds[i + 1];
    double seconds = 0, joules = 0;
    int64_t weights = 0, peak = model.cutBytes[static_cast<size_t>(begin)];
    for (int64_t n = begin; n < end; ++n) {
      const NodeCost& node = model.nodes[static_cast<size_t>(n)];
      seconds += static_cast<double>(node.macs) / device.rate(node.opClass) + device.nodeOverheadSeconds;
      joules += static_cast<double>(node.macs) * device.joulesPerMac;
      weights += node.weightBytes;
      peak = std::max(peak, node.liveBytes);
    }
    bool fits = device.flashBytes ? weights <= *device.flashBytes && peak <= device.ramBytes
                                  : weights + peak <= device.ramBytes;
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

BruteForce exhaustive(const PlanningProblem& problem) {
  BruteForce result;
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
          if (std::isfinite(cost)) result.costs.push_back(cost);
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

bool near(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)}); }

}  // namespace

TEST_CASE("split solver equals exhaustive search on 1500 random problems, runner-ups included") {
  std::mt19937_64 rng(20261122);
  int feasible = 0, infeasible = 0, memoryBinds = 0, multiRoute = 0;
  for (int instance = 0; instance < 1500; ++instance) {
    testing::RandomProblemOptions options;
    options.memoryTightness = std::uniform_real_distribution<double>(0.6, 1.6)(rng);
    PlanningProblem problem = testing::randomProblem(rng, options);
    CAPTURE(instance);
    BruteForce brute = exhaustive(problem);
    CostModel model(problem);
    Result<SplitResult> solved = solveSplit(model, {3, 4096});
    if (simpleRoutes(problem.fleet, problem.source, problem.sink, 100).size() > 1) ++multiRoute;
    if (brute.costs.empty()) {
      ++infeasible;
      REQUIRE_FALSE(solved.ok());
      CHECK(solved.error().message.find("no feasible split plan") != std::string::npos);
      continue;
    }
    ++feasible;
    REQUIRE_MESSAGE(solved.ok(), solved.error().message);
    const std::vector<Plan>& plans = solved->plans;
    REQUIRE(plans.size() == std::min<size_t>(3, brute.costs.size()));
    for (size_t k = 0; k < plans.size(); ++k) {
      CAPTURE(k);
      CHECK(near(plans[k].cost, brute.costs[k]));
      Status valid = checkPlan(plans[k], problem);
      CHECK_MESSAGE(valid.ok(), valid.error().message);
      for (size_t j = 0; j < k; ++j) CHECK_FALSE(plans[k].sameAssignment(plans[j]));
    }
    if (brute.costs.front() > brute.bestUnconstrained * (1 + 1e-9)) ++memoryBinds;
  }
  MESSAGE("feasible " << feasible << ", infeasible " << infeasible << ", memory binding " << memoryBinds
                      << ", several routes " << multiRoute);
  CHECK(feasible >= 1000);
  CHECK(infeasible >= 50);
  CHECK(memoryBinds >= 150);
  CHECK(multiRoute >= 300);
}

TEST_CASE("an infeasible problem names the node and what each device lacks") {
  PlanningProblem problem;
  problem.model.nodes = {{"small", OpClass::Conv, 1000, 100, 300}, {"huge", OpClass::Gemm, 1000, 50'000, 400},
                         {"tail", OpClass::Other, 10, 0, 200}};
  problem.model.cutBytes = {100, 100, 100, 100};
  DeviceProfile mcu{"mcu", "mcu", {}, 1e-5, 20'000, std::nullopt, 0, 0};
  DeviceProfile gateway{"gateway", "pi", {}, 1e-5, 40'000, std::nullopt, 0, 0};
  mcu.macsPerSecond.fill(1e8);
  gateway.macsPerSecond.fill(1e9);
  problem.fleet.devices = {mcu, gateway};
  problem.fleet.links = {{0, 1, 1e4, 1e4, 0.01}};
  problem.source = 0;
  problem.sink = 1;
  CostModel model(problem);
  Result<SplitResult> solved = solveSplit(model);
  REQUIRE_FALSE(solved.ok());
  INFO(solved.error().message);
  CHECK(solved.error().message.find("node 'huge' (position 1)") != std::string::npos);
  // huge alone needs 50,000 weight bytes + 400 live bytes of RAM: mcu lacks 30,400, gateway 10,400.
  CHECK(solved.error().message.find("'mcu' lacks 29.7 KiB more RAM (needs 49.2 KiB, has 19.5 KiB)") != std::string::npos);
  CHECK(solved.error().message.find("'gateway' lacks 10.2 KiB more RAM") != std::string::npos);

  problem.fleet.devices[1].flashBytes = 60'000;  // now the gateway keeps weights in flash
  CostModel withFlash(problem);
  Result<SplitResult> fits = solveSplit(withFlash);
  REQUIRE(fits.ok());
  CHECK(fits->plans.front().stages.back().begin <= 1);
}

TEST_CASE("no route from source to sink is reported as such") {
  std::mt19937_64 rng(7);
  PlanningProblem problem = testing::randomProblem(rng, {2, 4, 3, 3, 0.3, 0.0, 10.0});
  problem.fleet.links.pop_back();  // cut the chain d0 - d1 - d2 before the sink
  CostModel model(problem);
  Result<SplitResult> solved = solveSplit(model);
  REQUIRE_FALSE(solved.ok());
  CHECK(solved.error().message.find("no route of links leads from the source 'd0' to the sink 'd2'") != std::string::npos);
}

TEST_CASE("routes: simple paths only, truncated at the cap") {
  Fleet mesh;
  for (int i = 0; i < 5; ++i) mesh.devices.push_back({fmt::format("d{}", i), "pi", {}, 0, 1, std::nullopt, 0, 0});
  for (size_t a = 0; a < 5; ++a)
    for (size_t b = a + 1; b < 5; ++b) mesh.links.push_back({a, b, 1, 1, 0});
  bool truncated = true;
  // Paths 0 -> 4 through any ordered subset of {1, 2, 3}: 1 + 3 + 6 + 6 = 16.
  CHECK(simpleRoutes(mesh, 0, 4, 100, &truncated).size() == 16);
  CHECK_FALSE(truncated);
  CHECK(simpleRoutes(mesh, 0, 4, 5, &truncated).size() == 5);
  CHECK(truncated);
}

}  // namespace cleave::planner
