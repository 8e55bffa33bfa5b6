// The Neurosurgeon curve two ways (convex hull over cuts, parametric search over full solves),
// each against a fresh solve at random bandwidths, and against each other.
#include "planner/bandwidth_curve.h"

#include <cmath>

#include <doctest/doctest.h>

#include "planner/cost_model.h"
#include "planner/plan_check.h"
#include "planner/random_problem.h"

namespace cleave::planner {
namespace {

bool near(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max({1.0, std::abs(a), std::abs(b)}); }

double logUniform(std::mt19937_64& rng, double low, double high) {
  return std::exp(std::uniform_real_distribution<double>(std::log(low), std::log(high))(rng));
}

// The curve's plan at `bandwidth`, re-costed there, must cost what a fresh solve finds.
void checkCurveAt(const BandwidthCurve& curve, const PlanningProblem& problem, double bandwidth) {
  PlanningProblem local = problem;
  local.fleet.setBytesPerSecond(curve.from, curve.to, bandwidth);
  CostModel model(local);
  Result<SplitResult> solved = solveSplit(model, {1, 4096});
  REQUIRE(solved.ok());
  const Plan& fromCurve = curve.at(bandwidth).plan;
  Plan recosted = model.evaluate(fromCurve.route(), fromCurve.cuts());
  CHECK(near(recosted.cost, solved->plans.front().cost));
  Status valid = checkPlan(recosted, local);
  CHECK_MESSAGE(valid.ok(), valid.error().message);
}

void checkShape(const BandwidthCurve& curve, double low, double high) {
  REQUIRE_FALSE(curve.segments.empty());
  CHECK(near(curve.segments.front().lowBytesPerSecond, low));
  CHECK(near(curve.segments.back().highBytesPerSecond, high));
  for (size_t i = 1; i < curve.segments.size(); ++i) {
    CHECK(near(curve.segments[i].lowBytesPerSecond, curve.segments[i - 1].highBytesPerSecond));
    CHECK_FALSE(curve.segments[i].plan.sameAssignment(curve.segments[i - 1].plan));
  }
}

}  // namespace

TEST_CASE("pair curve and parametric sweep agree with fresh solves on 300 random two-device problems") {
  std::mt19937_64 rng(42);
  const double low = 1e2, high = 1e9;
  int breakpoints = 0;
  for (int instance = 0; instance < 300; ++instance) {
    CAPTURE(instance);
    testing::RandomProblemOptions options{4, 30, 2, 2, 0.3, 0.0, 3.0};  // roomy memory: most cuts feasible
    PlanningProblem problem = testing::randomProblem(rng, options);
    Result<BandwidthCurve> pair = pairCurve(problem, low, high);
    Result<BandwidthCurve> sweep = sweepLink(problem, problem.source, problem.sink, low, high);
    if (!pair.ok()) {  // nothing fits: the sweep must fail too
      CHECK_FALSE(sweep.ok());
      continue;
    }
    REQUIRE_MESSAGE(sweep.ok(), sweep.error().message);
    checkShape(*pair, low, high);
    checkShape(*sweep, low, high);
    // Same breakpoints, same plans.
    REQUIRE(pair->segments.size() == sweep->segments.size());
    for (size_t i = 0; i < pair->segments.size(); ++i) {
      CHECK(std::abs(std::log(pair->segments[i].highBytesPerSecond / sweep->segments[i].highBytesPerSecond)) < 1e-6);
      CHECK(pair->segments[i].plan.sameAssignment(sweep->segments[i].plan));
    }
    breakpoints += static_cast<int>(pair->segments.size()) - 1;
    for (int probe = 0; probe < 10; ++probe) checkCurveAt(*pair, problem, logUniform(rng, low, high));
    // Just either side of every breakpoint.
    for (size_t i = 0; i + 1 < pair->segments.size(); ++i) {
      checkCurveAt(*pair, problem, pair->segments[i].highBytesPerSecond * (1 - 1e-6));
      checkCurveAt(*pair, problem, pair->segments[i].highBytesPerSecond * (1 + 1e-6));
    }
  }
  MESSAGE("breakpoints in total: " << breakpoints);
  CHECK(breakpoints >= 200);  // the curves are not trivially flat (257 with this seed)
}

TEST_CASE("sweep on any link of 3-5 device topologies matches fresh solves") {
  std::mt19937_64 rng(99);
  const double low = 1e3, high = 1e9;
  int multiSegment = 0;
  for (int instance = 0; instance < 150; ++instance) {
    CAPTURE(instance);
    testing::RandomProblemOptions options{4, 20, 3, 5, 0.3, 0.4, 2.0};
    PlanningProblem problem = testing::randomProblem(rng, options);
    const Link& link = problem.fleet.links[std::uniform_int_distribution<size_t>(0, problem.fleet.links.size() - 1)(rng)];
    bool forward = std::bernoulli_distribution(0.5)(rng);
    size_t from = forward ? link.a : link.b, to = forward ? link.b : link.a;
    Result<BandwidthCurve> sweep = sweepLink(problem, from, to, low, high);
    if (!sweep.ok()) continue;  // infeasible at some bandwidth
    checkShape(*sweep, low, high);
    if (sweep->segments.size() > 1) ++multiSegment;
    for (int probe = 0; probe < 10; ++probe) checkCurveAt(*sweep, problem, logUniform(rng, low, high));
  }
  CHECK(multiSegment >= 20);  // 28 with this seed
}

TEST_CASE("bad sweep ranges and missing links are errors") {
  std::mt19937_64 rng(1);
  PlanningProblem problem = testing::randomProblem(rng, {4, 8, 3, 3, 0.3, 0.0, 3.0});
  CHECK_FALSE(sweepLink(problem, 0, 1, 10, 5).ok());
  CHECK_FALSE(sweepLink(problem, 0, 2, 10, 1e6).ok());  // d0 and d2 are not linked
  CHECK_FALSE(pairCurve(problem, 10, 1e6).ok());         // source and sink are not adjacent
}

}  // namespace cleave::planner
