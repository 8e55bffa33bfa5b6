// The split solver against exhaustive search (exhaustive_search.h) on random problems with skip
// connections and binding memory.
#include "planner/split_solver.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "planner/cost_model.h"
#include "planner/plan_check.h"
#include "planner/exhaustive_search.h"
#include "planner/random_problem.h"

namespace cleave::planner {
namespace {

bool near(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)}); }

}  // namespace

TEST_CASE("split solver equals exhaustive search on 2000 random problems, runner-ups included") {
  std::mt19937_64 rng(20261122);
  int feasible = 0, infeasible = 0, memoryBinds = 0, multiRoute = 0;
  for (int instance = 0; instance < 2000; ++instance) {
    testing::RandomProblemOptions options;
    options.memoryTightness = std::uniform_real_distribution<double>(0.6, 1.6)(rng);
    PlanningProblem problem = testing::randomProblem(rng, options);
    CAPTURE(instance);
    testing::BruteForce brute = testing::exhaustive(problem);
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

TEST_CASE("split solver equals exhaustive search where devices run only int8 or only float32") {
  std::mt19937_64 rng(20261208);
  int feasible = 0, infeasible = 0;
  for (int instance = 0; instance < 600; ++instance) {
    testing::RandomProblemOptions options;
    options.int8Probability = std::uniform_real_distribution<double>(0.2, 0.9)(rng);
    options.memoryTightness = 1.5;
    PlanningProblem problem = testing::randomProblem(rng, options);
    CAPTURE(instance);
    testing::BruteForce brute = testing::exhaustive(problem);
    CostModel model(problem);
    Result<SplitResult> solved = solveSplit(model, {3, 4096});
    if (brute.costs.empty()) {
      ++infeasible;
      REQUIRE_FALSE(solved.ok());
      continue;
    }
    ++feasible;
    REQUIRE_MESSAGE(solved.ok(), solved.error().message);
    CHECK(near(solved->plans.front().cost, brute.costs.front()));
    for (const StagePlan& stage : solved->plans.front().stages)
      for (int64_t n = stage.begin; n < stage.end; ++n)
        CHECK(problem.fleet.devices[stage.device].runs(problem.model.nodes[static_cast<size_t>(n)].int8));
  }
  MESSAGE("feasible " << feasible << ", infeasible " << infeasible);
  CHECK(feasible >= 150);
  CHECK(infeasible >= 50);
}

TEST_CASE("a device without float32 kernels takes only int8 nodes, and says so when none fits") {
  PlanningProblem problem;
  problem.model.nodes = {{"head", OpClass::Conv, 1'000'000, 100, 300}, {"tail", OpClass::Gemm, 1000, 50, 200}};
  problem.model.nodes[0].int8 = true;
  problem.model.cutBytes = {4000, 100, 40};
  DeviceProfile mcu{"mcu", "mcu", {}, 1e-5, 20'000, std::nullopt, 0, 0};
  DeviceProfile cloud{"cloud", "cloud", {}, 1e-6, 1'000'000, std::nullopt, 0, 0};
  mcu.macsPerSecond.fill(1e8);
  cloud.macsPerSecond.fill(1e10);
  mcu.runsFloat32 = false;
  problem.fleet.devices = {mcu, cloud};
  problem.fleet.links = {{0, 1, 1e3, 1e3, 0.01}};  // slow: the head belongs on the mcu
  problem.source = 0;
  problem.sink = 1;
  Result<SplitResult> solved = solveSplit(CostModel(problem));
  REQUIRE(solved.ok());
  CHECK(solved->plans.front().stages.front().device == 0);
  CHECK(solved->plans.front().stages.front().end == 1);  // the int8 head, not the float tail

  problem.model.nodes[0].int8 = false;  // a float model: the mcu can only relay the input
  Result<SplitResult> relayed = solveSplit(CostModel(problem));
  REQUIRE(relayed.ok());
  CHECK(relayed->plans.front().stages.front().end == 0);

  problem.fleet.devices[1].runsFloat32 = false;  // nobody runs float32
  Result<SplitResult> none = solveSplit(CostModel(problem));
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message.find("'mcu' lacks float32 kernels (its `precisions`)") != std::string::npos);
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
