#include "planner/plan_switch.h"

#include <random>

#include <doctest/doctest.h>

namespace cleave::planner {

TEST_CASE("a candidate must save the margin for the whole hold time") {
  PlanSwitch s(0.1, 2.0);
  CHECK_FALSE(s.offer(100, 95, 0.0));   // 5% better: not enough
  CHECK_FALSE(s.betterSince());
  CHECK_FALSE(s.offer(100, 89, 1.0));   // 11% better: the hold starts
  CHECK(s.betterSince() == 1.0);
  CHECK_FALSE(s.offer(100, 85, 2.9));   // still holding
  CHECK(s.offer(100, 88, 3.0));         // better for 2 s: adopt
  CHECK_FALSE(s.betterSince());         // and the next candidate starts afresh
}

TEST_CASE("a dip shorter than the hold changes nothing") {
  PlanSwitch s(0.1, 2.0);
  CHECK_FALSE(s.offer(100, 50, 0.0));
  CHECK_FALSE(s.offer(100, 50, 1.5));
  CHECK_FALSE(s.offer(100, 99, 1.9));   // the saving vanished: the hold restarts
  CHECK_FALSE(s.offer(100, 50, 2.5));
  CHECK_FALSE(s.offer(100, 50, 4.0));
  CHECK(s.offer(100, 50, 4.5));
}

TEST_CASE("noise around an equal cost never switches; a sustained step switches once") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0, 0.03);  // 3% estimate noise, well inside the margin
  PlanSwitch s(0.1, 1.0);
  int switches = 0;
  for (int step = 0; step < 10000; ++step)
    switches += s.offer(100 * (1 + noise(rng)), 100 * (1 + noise(rng)), step * 0.1) ? 1 : 0;
  CHECK(switches == 0);
  // A candidate 30% cheaper from t = 1000 s on: adopted once, 1 s later.
  double adoptedAt = -1;
  for (int step = 0; step < 100; ++step) {
    double t = 1000 + step * 0.1;
    if (s.offer(100 * (1 + noise(rng)), 70 * (1 + noise(rng)), t)) {
      adoptedAt = t;
      break;
    }
  }
  CHECK(adoptedAt == doctest::Approx(1001.0));
}

}  // namespace cleave::planner
