// The plan keeper's decisions, without processes: tests/fleet/adaptive.toml has a slow source a,
// a fast b and the sink c on a chain a - b - c. With a fast a -> b link the best plan sends the
// input on for b to compute; with a slow one a computes everything and sends only the logits.
// The keeper must plan when the fleet changes, keep a plan that still works, switch on a link
// move only past the hysteresis margin and the hold, follow operators' pins at once, and
// abandon older epochs when an agent that held stages is lost.
#include "daemon/plan_keeper.h"

#include <doctest/doctest.h>

#include <vector>

#include "config/fleet_config.h"

namespace cleave::daemon {
namespace {

AppliedPlan splitPlan(std::vector<std::string> route, std::vector<int64_t> cuts) {
  AppliedPlan p;
  p.route = std::move(route);
  p.cuts = std::move(cuts);
  return p;
}

const std::string TOPOLOGY = std::string(CLEAVE_SOURCE_DIR) + "/tests/fleet/adaptive.toml";
constexpr double MBPS = 1e6 / 8;

struct KeeperFixture {
  config::FleetConfig config;
  AgentRegistry registry;
  std::vector<FleetPlan> installed;

  explicit KeeperFixture(double holdSeconds) {
    Result<config::FleetConfig> loaded = config::loadFleetConfig(TOPOLOGY);
    REQUIRE_MESSAGE(loaded.ok(), loaded.error().message);
    config = std::move(*loaded);
    config.topology.planner.holdSeconds = holdSeconds;
    for (const planner::DeviceProfile& device : config.topology.fleet.devices) {
      AgentRecord record;
      record.name = device.name;
      record.profile = device;
      record.online = true;
      registry.add(record);
    }
  }
  PlanKeeper keeper() {
    return PlanKeeper(config, registry, [this](const FleetPlan& plan) { installed.push_back(plan); });
  }
};

// The agents that compute anything (the others relay).
std::vector<std::string> computing(const FleetPlan& plan) {
  std::vector<std::string> out;
  for (const FleetStage& s : plan.stages)
    if (s.begin < s.end) out.push_back(s.agent);
  return out;
}

bool bComputesMost(const FleetPlan& plan) {
  for (const FleetStage& s : plan.stages)
    if (s.agent == "b") return s.end - s.begin > plan.stages.front().end - plan.stages.front().begin;
  return false;
}

}  // namespace

TEST_CASE("the keeper plans when the fleet changes and keeps a plan that still works") {
  KeeperFixture f(0.0);
  PlanKeeper keeper = f.keeper();
  keeper.tick();
  CHECK(f.installed.empty());  // nothing asked for a plan yet

  keeper.fleetChanged("agents up");
  keeper.tick();
  REQUIRE(f.installed.size() == 1);
  CHECK(f.installed[0].epoch == 1);
  CHECK(f.installed[0].reason == "agents up");
  CHECK(f.installed[0].abandonBefore == 0);
  CHECK(bComputesMost(f.installed[0]));  // 40 Mbps to a 200x faster board
  CHECK(keeper.current()->epoch == 1);
  CHECK(keeper.mayHoldRequests("b"));

  keeper.fleetChanged("agent c re-registered");  // same fleet, same best plan: nothing to push
  keeper.tick();
  CHECK(f.installed.size() == 1);

  // b is lost: no route from a to c remains, so no plan can be made and the broken one stays.
  f.registry.find("b")->online = false;
  keeper.fleetChanged("agent b down", "b");
  keeper.tick();
  CHECK(f.installed.size() == 1);
  CHECK(keeper.current()->epoch == 1);

  // b is back: the plan that lost it is replaced, and the new one abandons what ran before.
  f.registry.find("b")->online = true;
  keeper.fleetChanged("agent b up", "b");
  keeper.tick();
  REQUIRE(f.installed.size() == 2);
  CHECK(f.installed[1].epoch == 2);
  CHECK(f.installed[1].abandonBefore == 2);

  keeper.operatorReplan(true);  // force: a new epoch even though nothing changed
  REQUIRE(f.installed.size() == 3);
  CHECK(f.installed[2].reason == "operator asked");
}

TEST_CASE("a link move switches plans only past the margin, after the hold") {
  KeeperFixture f(3600.0);  // a hold no test outlasts: the switch must wait
  PlanKeeper keeper = f.keeper();
  keeper.fleetChanged("agents up");
  keeper.tick();
  REQUIRE(f.installed.size() == 1);
  CHECK_FALSE(keeper.untilHoldEnds().has_value());

  // Implausible figures are refused; a small move changes nothing.
  CHECK_FALSE(keeper.takeEstimate("a", "b", {-1.0, 0.002}));
  CHECK(keeper.takeEstimate("a", "b", {36 * MBPS, 0.002}));
  keeper.tick();
  CHECK(f.installed.size() == 1);
  CHECK_FALSE(keeper.untilHoldEnds().has_value());

  // a -> b collapses: a computing everything is now clearly cheaper, but the hold has not passed.
  CHECK(keeper.takeEstimate("a", "b", {0.05 * MBPS, 0.002}));
  keeper.tick();
  CHECK(f.installed.size() == 1);
  REQUIRE(keeper.untilHoldEnds().has_value());
  CHECK(*keeper.untilHoldEnds() > std::chrono::minutes(59));

  // The link recovers before the hold ends: the candidate is dropped.
  CHECK(keeper.takeEstimate("a", "b", {40 * MBPS, 0.002}));
  keeper.tick();
  CHECK(f.installed.size() == 1);
  CHECK_FALSE(keeper.untilHoldEnds().has_value());

  // An operator's pin counts at once (margin yes, hold no); releasing it restores the estimate.
  REQUIRE(keeper.pin("a", "b", 0.05 * MBPS, std::nullopt).ok());
  REQUIRE(f.installed.size() == 2);
  CHECK(computing(f.installed[1]) == std::vector<std::string>{"a"});  // b and c relay the logits
  CHECK(f.installed[1].reason.find("link a -> b moved") != std::string::npos);
  CHECK(f.installed[1].replacedPredictedSeconds > f.installed[1].plan.latencySeconds);
  REQUIRE(keeper.clearPin("a", "b").ok());
  REQUIRE(f.installed.size() == 3);
  CHECK(bComputesMost(f.installed[2]));
  CHECK_FALSE(keeper.pin("a", "c", MBPS, std::nullopt).ok());  // no such link
}

TEST_CASE("with no hold, a link move past the margin switches at the next tick") {
  KeeperFixture f(0.0);
  PlanKeeper keeper = f.keeper();
  keeper.fleetChanged("agents up");
  keeper.tick();
  CHECK(keeper.takeEstimate("a", "b", {0.05 * MBPS, 0.002}));
  keeper.tick();
  REQUIRE(f.installed.size() == 2);
  CHECK(computing(f.installed[1]) == std::vector<std::string>{"a"});
  CHECK(f.installed[1].abandonBefore == 0);  // nothing was lost: requests on epoch 1 finish there
}

TEST_CASE("[planner] adapt = false plans with the declared figures whatever agents measure") {
  KeeperFixture f(0.0);
  f.config.topology.planner.adapt = false;
  PlanKeeper keeper = f.keeper();
  keeper.fleetChanged("agents up");
  keeper.tick();
  CHECK(keeper.takeEstimate("a", "b", {0.05 * MBPS, 0.002}));  // plausible, so not counted as bad
  keeper.tick();
  CHECK(f.installed.size() == 1);
  keeper.operatorReplan(false);  // the measured figure was never taken in
  CHECK(f.installed.size() == 1);
}

TEST_CASE("a plan applied by hand stays until an operator asks otherwise or it loses an agent") {
  KeeperFixture f(0.0);
  PlanKeeper keeper = f.keeper();
  keeper.fleetChanged("agents up");
  keeper.tick();
  REQUIRE(f.installed.size() == 1);
  // The operator makes a computing everything, which the 40 Mbit/s link does not favour.
  Result<FleetPlan> mine = keeper.evaluate(splitPlan({"a", "b", "c"}, {8, 8}));
  REQUIRE_MESSAGE(mine.ok(), mine.error().message);
  keeper.installApplied(std::move(*mine));
  REQUIRE(f.installed.size() == 2);
  // Measurements that favour the planner's own plan do not move it, nor does an agent coming back.
  CHECK(keeper.takeEstimate("a", "b", {80 * MBPS, 0.002}));
  keeper.tick();
  keeper.fleetChanged("agent c re-registered");
  keeper.tick();
  CHECK(f.installed.size() == 2);
  // An operator's pin does (the margin still applies).
  REQUIRE(keeper.pin("a", "b", 80 * MBPS, std::nullopt).ok());
  REQUIRE(f.installed.size() == 3);
  CHECK(bComputesMost(f.installed[2]));
  REQUIRE(keeper.clearPin("a", "b").ok());

  // Losing an agent of the operator's plan replaces it.
  Result<FleetPlan> again = keeper.evaluate(splitPlan({"a", "b", "c"}, {8, 8}));
  REQUIRE(again.ok());
  keeper.installApplied(std::move(*again));
  const size_t before = f.installed.size();
  f.registry.find("c")->online = false;
  keeper.fleetChanged("agent c down", "c");
  f.registry.find("c")->online = true;
  keeper.fleetChanged("agent c up", "c");
  keeper.tick();
  REQUIRE(f.installed.size() == before + 1);
  CHECK(bComputesMost(f.installed.back()));
}

TEST_CASE("plans written by hand are checked against the bundle, the fleet and the model") {
  KeeperFixture f(0.0);
  PlanKeeper keeper = f.keeper();
  Result<FleetPlan> ok = keeper.evaluate(splitPlan({"a", "b", "c"}, {1, 1}));
  REQUIRE_MESSAGE(ok.ok(), ok.error().message);
  CHECK(computing(*ok) == std::vector<std::string>{"a", "c"});

  AppliedPlan nonnPlan;
  nonnPlan.strategy = planner::Strategy::Nonn;
  nonnPlan.students = {"a"};
  nonnPlan.fusion = std::string("b");  // (a char literal here trips GCC 12's -Wrestrict)
  Result<FleetPlan> nonn = keeper.evaluate(nonnPlan);
  REQUIRE_FALSE(nonn.ok());
  CHECK(nonn.error().message == "the bundle 'fmnist-small' cannot run nonn plans");

  f.registry.find("b")->online = false;
  Result<FleetPlan> offline = keeper.evaluate(splitPlan({"a", "b", "c"}, {1, 1}));
  REQUIRE_FALSE(offline.ok());
  CHECK(offline.error().message.find("b") != std::string::npos);
}

}  // namespace cleave::daemon
