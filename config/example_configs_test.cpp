// Every example topology in configs/ loads and plans, and its plans pass the checker.
#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "config/fleet_config.h"
#include "planner/plan_check.h"
#include "planner/planner.h"

namespace cleave::config {

TEST_CASE("every example topology loads and plans") {
  std::filesystem::path dir = std::filesystem::path(CLEAVE_SOURCE_DIR) / "configs";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".toml") continue;
    ++files;
    std::string path = entry.path().string();
    CAPTURE(path);
    Result<FleetConfig> config = loadFleetConfig(path);
    REQUIRE_MESSAGE(config.ok(), config.error().message);
    Result<planner::PlanSet> plans = planner::makePlan(config->problem, config->topology.model.strategy, config->allowed);
    REQUIRE_MESSAGE(plans.ok(), plans.error().message);
    REQUIRE_FALSE(plans->plans.empty());
    for (const planner::Plan& plan : plans->plans) {
      Status valid = planner::checkPlan(plan, config->problem);
      CHECK_MESSAGE(valid.ok(), valid.error().message);
    }
  }
  CHECK(files >= 4);
}

}  // namespace cleave::config
