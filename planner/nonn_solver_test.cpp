// The nonn solver against exhaustive search over every placement, on random fleets whose
// memory binds; its plans through the checker; the checker against broken nonn plans.
#include "planner/nonn_solver.h"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>

#include "planner/plan_check.h"
#include "planner/planner.h"
#include "planner/random_problem.h"

namespace cleave::planner {
namespace {

// A random fleet (random links, not all pairs) and a random nonn bundle of `students`.
PlanningProblem randomNonnProblem(std::mt19937_64& rng, int students, int devices) {
  testing::RandomProblemOptions options;
  options.minDevices = options.maxDevices = devices;
  options.maxNodes = 4;
  options.extraLinkProbability = 0.6;
  PlanningProblem problem = testing::randomProblem(rng, options);
  problem.model = {};
  NonnModel nonn;
  nonn.input = "image";
  nonn.output = "logits";
  std::uniform_int_distribution<int64_t> inputBytes(100, 5000), featureBytes(16, 512);
  const int64_t input = inputBytes(rng);
  int64_t features = 0, largest = 0;
  for (int k = 0; k < students; ++k) {
    NonnStudent student;
    student.graph = testing::randomModel(rng, std::uniform_int_distribution<int>(1, 5)(rng), 0.3);
    student.graph.cutBytes.front() = input;
    student.graph.cutBytes.back() = featureBytes(rng);
    features += student.graph.cutBytes.back();
    student.features = fmt::format("features_{}", k);
    student.accuracyWithout = std::uniform_real_distribution<double>(0.5, 0.9)(rng);
    int64_t need = input;
    for (const NodeCost& node : student.graph.nodes) need += node.weightBytes + node.liveBytes + node.kernelBytes;
    largest = std::max(largest, need);
    nonn.students.push_back(std::move(student));
  }
  nonn.fusion = testing::randomModel(rng, 2, 0.0);
  nonn.fusion.cutBytes.front() = features;
  nonn.accuracy = 0.92;
  problem.nonn = std::move(nonn);
  // Memory that binds: some devices hold one student beside the relays, some none.
  std::uniform_real_distribution<double> room(0.4, 2.5);
  for (DeviceProfile& device : problem.fleet.devices) {
    device.flashBytes.reset();
    device.ramBytes = static_cast<int64_t>(room(rng) * static_cast<double>(largest));
  }
  return problem;
}

// Exhaustive search, written apart from the solver: every student on a distinct device or left
// out, every fusion device; the most students, then the most accurate set, then the cheapest.
// A placement's figures add up from single-student plans (each device takes at most one
// student, so memory is decided pair by pair): the latency is the slowest student's path plus
// what the fusion adds, the energy the sum.
struct Exhaustive {
  size_t placed = 0;
  double accuracy = -1, cost = INFINITY;
  std::vector<std::optional<size_t>> placement;
  size_t fusion = 0;
};

Exhaustive exhaustive(const PlanningProblem& problem) {
  const NonnModel& nonn = *problem.nonn;
  const size_t students = nonn.students.size(), devices = problem.fleet.devices.size();
  const Objective& objective = problem.objective;
  Exhaustive best;
  for (size_t fusion = 0; fusion < devices; ++fusion) {
    std::vector<std::optional<size_t>> placement(students);
    Result<Plan> alone = evaluateNonn(problem, placement, fusion);  // the fusion and the result's way
    if (!alone) continue;
    // Path seconds and joules of student k on device d (NaN: it cannot go there).
    std::vector<std::vector<double>> seconds(students, std::vector<double>(devices, NAN)), joules = seconds;
    for (size_t k = 0; k < students; ++k)
      for (size_t d = 0; d < devices; ++d) {
        placement[k] = d;
        if (Result<Plan> one = evaluateNonn(problem, placement, fusion)) {
          seconds[k][d] = one->latencySeconds - alone->latencySeconds;
          joules[k][d] = one->energyJoules - alone->energyJoules;
        }
        placement[k] = std::nullopt;
      }
    std::vector<bool> used(devices, false);
    std::function<void(size_t, size_t, double, double)> place = [&](size_t k, size_t placed, double slowest,
                                                                     double energy) {
      if (placed + (students - k) < best.placed) return;
      if (k == students) {
        if (placed == 0) return;
        std::vector<bool> present(students);
        for (size_t i = 0; i < students; ++i) present[i] = placement[i].has_value();
        const double accuracy = nonnAccuracy(nonn, present);
        if (problem.constraints.accuracyFloor && accuracy < *problem.constraints.accuracyFloor) return;
        const double cost = objective.cost(slowest + alone->latencySeconds, energy + alone->energyJoules);
        const bool better = placed > best.placed || (placed == best.placed && accuracy > best.accuracy) ||
                            (placed == best.placed && accuracy == best.accuracy && cost < best.cost);
        if (better) best = {placed, accuracy, cost, placement, fusion};
        return;
      }
      for (size_t d = 0; d < devices; ++d) {
        if (used[d] || std::isnan(seconds[k][d])) continue;
        used[d] = true;
        placement[k] = d;
        place(k + 1, placed + 1, std::max(slowest, seconds[k][d]), energy + joules[k][d]);
        used[d] = false;
      }
      placement[k] = std::nullopt;
      place(k + 1, placed, slowest, energy);
    };
    place(0, 0, 0.0, 0.0);
  }
  return best;
}

}  // namespace

TEST_CASE("nonn plans match exhaustive search on random fleets with binding memory") {
  std::mt19937_64 rng(13);
  int degraded = 0, infeasible = 0, checked = 0;
  for (int instance = 0; instance < 1000; ++instance) {
    const int students = std::uniform_int_distribution<int>(2, 6)(rng);
    const int devices = std::uniform_int_distribution<int>(2, 8)(rng);
    PlanningProblem problem = randomNonnProblem(rng, students, devices);
    if (std::bernoulli_distribution(0.2)(rng)) problem.constraints.accuracyFloor = 0.7;
    CAPTURE(instance);
    const Exhaustive expected = exhaustive(problem);
    Result<Plan> solved = solveNonn(problem);
    if (expected.placed == 0) {
      CHECK_FALSE(solved.ok());
      ++infeasible;
      continue;
    }
    REQUIRE_MESSAGE(solved.ok(), solved.error().message);
    Status valid = checkPlan(*solved, problem);
    REQUIRE_MESSAGE(valid.ok(), valid.error().message);
    CHECK(solved->stages.size() - 1 - (solved->stages.back().graph == StageGraph::Relay) == expected.placed + 1);
    CHECK(solved->accuracy == doctest::Approx(expected.accuracy));
    CHECK(solved->cost == doctest::Approx(expected.cost).epsilon(1e-9));
    // The sum of single-student figures is the plan's own.
    Result<Plan> argmin = evaluateNonn(problem, expected.placement, expected.fusion);
    REQUIRE(argmin.ok());
    CHECK(argmin->cost == doctest::Approx(expected.cost).epsilon(1e-9));
    degraded += !solved->missingStudents.empty();
    ++checked;
  }
  MESSAGE(checked, " instances solved, ", degraded, " of them degraded, ", infeasible, " infeasible");
  CHECK(checked >= 900);
  CHECK(degraded >= 20);  // memory binds often enough to leave students out
}

TEST_CASE("a nonn plan leaves out the student whose absence costs least, and says so") {
  std::mt19937_64 rng(3);
  PlanningProblem problem = randomNonnProblem(rng, 3, 3);
  for (DeviceProfile& device : problem.fleet.devices) device.ramBytes = int64_t{1} << 40;
  // Two devices besides the source; the source may not hold a student.
  problem.fleet.devices[0].ramBytes = problem.nonn->students[0].graph.cutBytes.front() * 2;
  problem.nonn->students[0].accuracyWithout = 0.80;
  problem.nonn->students[1].accuracyWithout = 0.88;  // the least missed
  problem.nonn->students[2].accuracyWithout = 0.85;
  problem.fleet.links.clear();
  for (size_t a = 0; a < 3; ++a)
    for (size_t b = a + 1; b < 3; ++b) problem.fleet.links.push_back({a, b, 1e6, 1e6, 1e-3});
  Result<PlanSet> set = makePlan(problem, Strategy::Nonn, {Strategy::Nonn});
  REQUIRE(set.ok());
  const Plan& plan = set->plans.front();
  CHECK(checkPlan(plan, problem).ok());
  CHECK(plan.missingStudents == std::vector<uint32_t>{1});
  CHECK(plan.accuracy == doctest::Approx(0.88));
  REQUIRE(set->notes.size() == 1);
  CHECK(set->notes.front().find("student 1") != std::string::npos);

  problem.constraints.accuracyFloor = 0.9;  // no degraded plan is good enough
  CHECK_FALSE(makePlan(problem, Strategy::Nonn, {Strategy::Nonn}).ok());
}

TEST_CASE("the plan checker rejects broken nonn plans") {
  std::mt19937_64 rng(21);
  PlanningProblem problem = randomNonnProblem(rng, 3, 5);
  for (DeviceProfile& device : problem.fleet.devices) device.ramBytes = int64_t{1} << 40;
  problem.fleet.links.clear();
  for (size_t a = 0; a < 5; ++a)
    for (size_t b = a + 1; b < 5; ++b) problem.fleet.links.push_back({a, b, 1e6, 2e6, 1e-3});
  Result<Plan> good = evaluateNonn(problem, {1, 2, 3}, 2);
  REQUIRE(good.ok());
  REQUIRE(checkPlan(*good, problem).ok());
  REQUIRE(good->stages.size() == 6);  // source relay, three students, fusion, sink relay

  auto broken = [&](auto mutate) {
    Plan plan = *good;
    mutate(plan);
    return checkPlan(plan, problem);
  };
  CHECK_FALSE(broken([](Plan& p) { p.stages[2].device = 1; }));              // two students on one device
  CHECK_FALSE(broken([](Plan& p) { p.stages[3].graphIndex = 0; }));          // student 0 twice, 2 never
  CHECK_FALSE(broken([](Plan& p) { p.edges.pop_back(); }));                  // the result never reaches the sink
  CHECK_FALSE(broken([](Plan& p) { p.edges[1].tensors = {"image"}; }));      // the fusion misses features_0
  CHECK_FALSE(broken([](Plan& p) { p.edges[0].bytes += 1; }));               // wrong size
  CHECK_FALSE(broken([](Plan& p) { p.edges[2].transferSeconds *= 0.5; }));   // optimistic transfer
  CHECK_FALSE(broken([](Plan& p) { p.stages[4].computeSeconds *= 1.01; }));  // wrong fusion time
  CHECK_FALSE(broken([](Plan& p) { p.latencySeconds *= 0.9; }));             // not the critical path
  CHECK_FALSE(broken([](Plan& p) { p.missingStudents = {0}; }));             // placed and missing
  CHECK_FALSE(broken([](Plan& p) { p.stages[0].device = 1; }));              // not from the source
  CHECK_FALSE(broken([](Plan& p) { std::swap(p.edges[0].from, p.edges[0].to); }));  // an edge backwards
  problem.fleet.devices[3].ramBytes = problem.nonn->students[2].graph.cutBytes.front();  // student 2 no longer fits
  CHECK_FALSE(checkPlan(*good, problem));
}

}  // namespace cleave::planner

namespace cleave::planner {

TEST_CASE("preferable: within nonn, fewer students left out first, then accuracy, then cost; across strategies, cost") {
  Plan full, degraded, split;
  full.strategy = degraded.strategy = Strategy::Nonn;
  full.cost = 2.0;
  full.accuracy = 0.90;
  degraded.cost = 1.0;  // cheaper: the slowest student is the one left out
  degraded.accuracy = 0.89;
  degraded.missingStudents = {3};
  CHECK(preferable(full, degraded));
  CHECK_FALSE(preferable(degraded, full));
  Plan moreAccurate = degraded;
  moreAccurate.missingStudents = {0};
  moreAccurate.accuracy = 0.895;
  moreAccurate.cost = 1.5;
  CHECK(preferable(moreAccurate, degraded));
  Plan cheaper = full;
  cheaper.cost = 1.9;
  CHECK(preferable(cheaper, full));
  CHECK_FALSE(preferable(full, full));  // a tie keeps what runs
  split.strategy = Strategy::Split;    // accuracy 0: not known; auto compares costs
  split.cost = 1.5;
  CHECK(preferable(split, full));
  CHECK_FALSE(preferable(full, split));
  // A degraded nonn plan, however cheap, gives way to a plan that runs the whole bundle.
  CHECK(preferable(split, degraded));
  CHECK_FALSE(preferable(degraded, split));
}

}  // namespace cleave::planner
