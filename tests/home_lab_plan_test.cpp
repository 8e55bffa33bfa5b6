// resnet18 (the runtime's torchvision export) on configs/home-lab.toml: the best plan when every
// link runs at 1 Mbps differs from the best at 100 Mbps, and each equals exhaustive search.
#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "config/fleet_config.h"
#include "planner/cost_model.h"
#include "planner/exhaustive_search.h"
#include "planner/plan_check.h"
#include "planner/plan_report.h"
#include "planner/split_solver.h"

namespace cleave {

TEST_CASE("resnet18 on home-lab: 1 Mbps and 100 Mbps plans differ and are optimal") {
  std::string model = std::string(CLEAVE_BINARY_DIR) + "/models/torchvision/resnet18.onnx";
  if (!std::filesystem::exists(model)) {
    MESSAGE("skipped: " << model << " was not exported (needs Debian's python3-torch)");
    return;
  }
  Result<config::FleetConfig> config =
      config::loadFleetConfig(std::string(CLEAVE_SOURCE_DIR) + "/configs/home-lab.toml", model);
  REQUIRE_MESSAGE(config.ok(), config.error().message);

  std::vector<planner::Plan> best;
  for (double bitsPerSecond : {1e6, 100e6}) {
    CAPTURE(bitsPerSecond);
    planner::PlanningProblem problem = config->problem;
    for (planner::Link& link : problem.fleet.links) link.bytesPerSecond = link.reverseBytesPerSecond = bitsPerSecond / 8;
    planner::CostModel costs(problem);
    Result<planner::SplitResult> solved = planner::solveSplit(costs);
    REQUIRE_MESSAGE(solved.ok(), solved.error().message);
    const planner::Plan& plan = solved->plans.front();
    MESSAGE(planner::planSummary(plan, problem));
    Status valid = planner::checkPlan(plan, problem);
    CHECK_MESSAGE(valid.ok(), valid.error().message);

    planner::testing::BruteForce brute = planner::testing::exhaustive(problem);
    REQUIRE_FALSE(brute.costs.empty());
    CHECK(plan.cost == doctest::Approx(brute.costs.front()).epsilon(1e-9));
    CHECK(solved->plans[1].cost == doctest::Approx(brute.costs[1]).epsilon(1e-9));
    best.push_back(plan);
  }
  CHECK_FALSE(best[0].sameAssignment(best[1]));
}

}  // namespace cleave
