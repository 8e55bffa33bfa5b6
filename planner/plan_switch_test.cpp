#include "planner/plan_switch.h"

#include <random>

#include <doctest/doctest.h>

#include "planner/bandwidth_curve.h"
#include "planner/cost_model.h"
#include "planner/random_problem.h"

namespace cleave::planner {
namespace {

// Two plans across one slow, distant link, in closed form: send a 3136-byte image and run
// everything remotely, or run everything locally (1.6 ms) and send the 40-byte result. Both pay
// the 80 ms round trip. They cost the same at 3136 B / 1.6 ms = 1.96 MB/s.
constexpr double RTT = 0.080, IMAGE = 3136, LOCAL = 0.0016;
constexpr double BREAK_EVEN = IMAGE / LOCAL;
CostBand sendImage(double bytesPerSecond, double margin) {
  return {RTT + IMAGE / (bytesPerSecond * (1 - margin)), RTT + IMAGE / (bytesPerSecond * (1 + margin))};
}
constexpr CostBand RUN_LOCALLY{RTT + LOCAL, RTT + LOCAL};  // no link in it: the same at any bandwidth

CostBand bandOf(const PlanningProblem& problem, const Plan& plan, double margin) {
  return {CostModel(withLinkBandwidthsScaled(problem, 1 - margin)).evaluate(plan.route(), plan.cuts()).cost,
          CostModel(withLinkBandwidthsScaled(problem, 1 + margin)).evaluate(plan.route(), plan.cuts()).cost};
}

}  // namespace

TEST_CASE("a candidate must be clearly better for the whole hold time") {
  PlanSwitch s(0.1, 2.0);
  const double b = BREAK_EVEN;
  CHECK_FALSE(s.offer(RUN_LOCALLY, sendImage(b * 1.05, 0.1), 0.0));  // inside the band
  CHECK_FALSE(s.betterSince());
  CHECK_FALSE(s.offer(RUN_LOCALLY, sendImage(b * 1.2, 0.1), 1.0));  // out of it: the hold starts
  CHECK(s.betterSince() == doctest::Approx(1.0));
  CHECK_FALSE(s.offer(RUN_LOCALLY, sendImage(b * 1.5, 0.1), 2.9));  // still holding
  CHECK(s.offer(RUN_LOCALLY, sendImage(b * 1.2, 0.1), 3.0));        // 2 s out of the band: adopt
  CHECK_FALSE(s.betterSince());
}

TEST_CASE("falling back into the band restarts the hold") {
  PlanSwitch s(0.1, 2.0);
  const double b = BREAK_EVEN;
  CHECK_FALSE(s.offer(RUN_LOCALLY, sendImage(b * 3, 0.1), 0.0));
  CHECK_FALSE(s.offer(RUN_LOCALLY, sendImage(b * 3, 0.1), 1.5));
  CHECK_FALSE(s.offer(RUN_LOCALLY, sendImage(b * 1.1, 0.1), 1.9));  // back in the band
  CHECK_FALSE(s.offer(RUN_LOCALLY, sendImage(b * 3, 0.1), 2.5));
  CHECK_FALSE(s.offer(RUN_LOCALLY, sendImage(b * 3, 0.1), 4.0));
  CHECK(s.offer(RUN_LOCALLY, sendImage(b * 3, 0.1), 4.5));
}

TEST_CASE("estimate noise at the break-even never switches; a step out of the band switches once") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 0.03);  // 3% estimate noise, well inside the margin
  PlanSwitch s(0.1, 1.0);
  int switches = 0;
  for (int step = 0; step < 10000; ++step) {
    const double estimate = BREAK_EVEN * (1 + noise(rng));
    switches += s.offer(RUN_LOCALLY, sendImage(estimate, 0.1), step * 0.1) ? 1 : 0;
  }
  CHECK(switches == 0);
  // From t = 1000 s the link runs at twice the break-even: adopted once, 1 s later, although
  // sending saves only 0.8 ms of 81.6 (1%): a margin on the cost would never have let it through.
  CHECK((RTT + LOCAL) - (RTT + IMAGE / (2 * BREAK_EVEN)) < 0.01 * (RTT + LOCAL));
  double adoptedAt = -1;
  for (int step = 0; step < 100; ++step) {
    const double t = 1000 + step * 0.1, estimate = 2 * BREAK_EVEN * (1 + noise(rng));
    if (s.offer(RUN_LOCALLY, sendImage(estimate, 0.1), t)) {
      adoptedAt = t;
      break;
    }
  }
  CHECK(adoptedAt == doctest::Approx(1001.0));
}

TEST_CASE("a zero margin switches on any strict saving, never on a tie") {
  CHECK(PlanSwitch::clearlyBetter(RUN_LOCALLY, sendImage(BREAK_EVEN * 1.0001, 0)));
  CHECK_FALSE(PlanSwitch::clearlyBetter(RUN_LOCALLY, RUN_LOCALLY));
}

// Against the Neurosurgeon curve (convex hull over cuts, planner/bandwidth_curve.h): between two
// adjacent optimal plans with break-even x, the faster-link plan is clearly better exactly when
// the link is above x / (1 - margin), and the slower-link plan exactly below x / (1 + margin).
TEST_CASE("the band around each break-even of 200 random two-device problems") {
  std::mt19937_64 rng(7);
  const double margin = 0.1;
  int checked = 0;
  for (int instance = 0; instance < 200; ++instance) {
    CAPTURE(instance);
    PlanningProblem problem = testing::randomProblem(rng, {4, 30, 2, 2, 0.3, 0.0, 3.0});
    Result<BandwidthCurve> curve = pairCurve(problem, 1e2, 1e9);
    if (!curve.ok()) continue;
    for (size_t i = 0; i + 1 < curve->segments.size(); ++i) {
      const double x = curve->segments[i].highBytesPerSecond;
      if (x / (1 - margin) * 1.01 > 1e9 || x / (1 + margin) * 0.99 < 1e2) continue;
      const Plan &slower = curve->segments[i].plan, &faster = curve->segments[i + 1].plan;
      auto at = [&](double bandwidth) {
        PlanningProblem p = problem;
        p.fleet.setBytesPerSecond(curve->from, curve->to, bandwidth);
        return p;
      };
      auto upward = [&](double b) { return PlanSwitch::clearlyBetter(bandOf(at(b), slower, margin), bandOf(at(b), faster, margin)); };
      auto downward = [&](double b) { return PlanSwitch::clearlyBetter(bandOf(at(b), faster, margin), bandOf(at(b), slower, margin)); };
      CHECK(upward(x / (1 - margin) * 1.01));
      CHECK_FALSE(upward(x / (1 - margin) * 0.99));
      CHECK_FALSE(upward(x));
      CHECK(downward(x / (1 + margin) * 0.99));
      CHECK_FALSE(downward(x / (1 + margin) * 1.01));
      CHECK_FALSE(downward(x));
      ++checked;
    }
  }
  MESSAGE("break-evens checked: " << checked);
  CHECK(checked >= 100);
}

}  // namespace cleave::planner
