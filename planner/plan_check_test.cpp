// The checker must catch each kind of broken plan; the solver tests rely on it.
#include "planner/plan_check.h"

#include <doctest/doctest.h>

#include "planner/cost_model.h"
#include "planner/random_problem.h"
#include "planner/split_solver.h"

namespace cleave::planner {

TEST_CASE("the plan checker rejects every kind of broken plan") {
  std::mt19937_64 rng(5);
  PlanningProblem problem = testing::randomProblem(rng, {8, 8, 3, 3, 0.3, 1.0, 100.0});  // all linked, roomy
  CostModel model(problem);
  Result<SplitResult> solved = solveSplit(model);
  REQUIRE(solved.ok());
  Plan good = model.evaluate({0, 1, 2}, {3, 5});
  REQUIRE(checkPlan(good, problem).ok());

  auto broken = [&](auto mutate) {
    Plan plan = good;
    mutate(plan);
    return checkPlan(plan, problem);
  };
  CHECK_FALSE(broken([](Plan& p) { p.stages[1].begin = 4; }));                  // node 3 unassigned
  CHECK_FALSE(broken([](Plan& p) { p.stages[2].end = 7; }));                    // the last node unassigned
  CHECK_FALSE(broken([](Plan& p) { p.stages[1].device = 0; }));                 // a device twice
  CHECK_FALSE(broken([](Plan& p) { p.stages.front().device = 1; }));            // not from the source
  CHECK_FALSE(broken([](Plan& p) { p.stages.back().device = 1; }));             // not to the sink
  CHECK_FALSE(broken([](Plan& p) { p.latencySeconds *= 0.5; }));                // optimistic latency
  CHECK_FALSE(broken([](Plan& p) { p.stages[0].sendBytes += 1; }));            // wrong transfer
  CHECK_FALSE(broken([](Plan& p) { p.stages[1].computeSeconds *= 1.01; }));     // wrong compute time
  CHECK_FALSE(broken([](Plan& p) { p.stages.pop_back(); }));                    // stops short of the sink
  Plan noLink = model.evaluate({0, 2}, {4});
  problem.fleet.links.erase(problem.fleet.links.begin() + 2, problem.fleet.links.end());  // keep 0-1, 1-2
  CHECK_FALSE(checkPlan(noLink, problem));
  problem.fleet.devices[1].ramBytes = 1;  // nothing fits d1 any more
  CHECK_FALSE(checkPlan(good, problem));
}

}  // namespace cleave::planner
