// The best plan as a link's bandwidth moves, for a bundle that can run as nonn or split
// (configs/nonn-8pi.toml, `auto`): every bandwidth of a dense grid is checked against the
// planner solved from scratch there, so a missed breakpoint or a wrong segment shows.
#include <cmath>

#include <doctest/doctest.h>

#include "config/fleet_config.h"
#include "planner/bandwidth_curve.h"
#include "planner/planner.h"

namespace cleave {

TEST_CASE("sweeping pi1 -> pi8 under auto: the curve agrees with the planner at 301 bandwidths") {
  Result<config::FleetConfig> config =
      config::loadFleetConfig(std::string(CLEAVE_SOURCE_DIR) + "/configs/nonn-8pi.toml");
  REQUIRE_MESSAGE(config.ok(), config.error().message);
  // Slow every link from pi1 but the swept one (to pi8, the sink), so the swept link decides.
  planner::PlanningProblem problem = config->problem;
  const size_t pi1 = *problem.fleet.deviceIndex("pi1"), pi8 = *problem.fleet.deviceIndex("pi8");
  for (planner::Link& link : problem.fleet.links)
    if ((link.a == pi1 || link.b == pi1) && !(link.a == pi8 || link.b == pi8))
      link.bytesPerSecond = link.reverseBytesPerSecond = 1e6;  // 8 Mbit/s
  const double low = 1e3, high = 1e9;
  Result<planner::BandwidthCurve> curve =
      planner::sweepLinkAnyStrategy(problem, pi1, pi8, low, high, planner::Strategy::Auto, config->allowed);
  REQUIRE_MESSAGE(curve.ok(), curve.error().message);
  REQUIRE(!curve->segments.empty());
  CHECK(curve->segments.front().lowBytesPerSecond == doctest::Approx(low));
  CHECK(curve->segments.back().highBytesPerSecond == doctest::Approx(high));
  CHECK(curve->segments.size() >= 2);  // the search had breakpoints to find
  for (size_t i = 1; i < curve->segments.size(); ++i)
    CHECK(curve->segments[i].lowBytesPerSecond == doctest::Approx(curve->segments[i - 1].highBytesPerSecond));

  for (int k = 0; k <= 300; ++k) {
    const double bandwidth = low * std::pow(high / low, k / 300.0);
    planner::PlanningProblem local = problem;
    local.fleet.setBytesPerSecond(pi1, pi8, bandwidth);
    Result<planner::PlanSet> best = planner::makePlan(local, planner::Strategy::Auto, config->allowed);
    REQUIRE(best.ok());
    Result<planner::Plan> segment = planner::reevaluatePlan(local, curve->at(bandwidth).plan);
    REQUIRE(segment.ok());
    CAPTURE(bandwidth);
    CHECK(segment->cost == doctest::Approx(best->plans.front().cost).epsilon(1e-6));
  }
  MESSAGE(curve->segments.size() << " segments");
}

}  // namespace cleave
