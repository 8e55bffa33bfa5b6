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

// clio-ble's microcontrollers run int8 only: the int8 bundle puts its work on the GAP8, where the
// float model leaves the GAP8 only the raw image to send over BLE.
TEST_CASE("clio-ble: an int8 model runs on the int8-only MCU, the float one cannot") {
  const std::string path = std::string(CLEAVE_SOURCE_DIR) + "/configs/clio-ble.toml";
  for (const bool int8 : {true, false}) {
    CAPTURE(int8);
    Result<FleetConfig> config =
        int8 ? loadFleetConfig(path)
             : loadFleetConfig(path, std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small/model.onnx");
    REQUIRE_MESSAGE(config.ok(), config.error().message);
    const size_t mcu = *config->problem.fleet.deviceIndex("mcu");
    CHECK_FALSE(config->problem.fleet.devices[mcu].runsFloat32);
    Result<planner::PlanSet> plans = planner::makePlan(config->problem, planner::Strategy::Split, config->allowed);
    REQUIRE_MESSAGE(plans.ok(), plans.error().message);
    REQUIRE_FALSE(plans->plans.empty());
    const planner::StagePlan& first = plans->plans.front().stages.front();
    REQUIRE(first.device == mcu);
    if (int8) {
      CHECK(first.end - first.begin >= 8);  // every convolution on the GAP8
      CHECK(first.sendBytes <= 10);         // int8 logits over BLE
    } else {
      CHECK(first.end == first.begin);  // relays the image
      CHECK(first.sendBytes == 28 * 28 * 4);
    }
  }
}

}  // namespace cleave::config
