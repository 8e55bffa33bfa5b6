// The early_exit solver against exhaustive search over every placement and every combination of
// thresholds, on random fleets whose memory binds; its plans through the checker (which re-costs
// them request by request); a two-device case worked by hand; the accuracy floor's bound.
#include "planner/early_exit_solver.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include "planner/plan_check.h"
#include "planner/planner.h"
#include "planner/random_problem.h"

namespace cleave::planner {
namespace {

constexpr double INF = std::numeric_limits<double>::infinity();

// Statistics of a random cascade: each combination's counts drawn so that every exit gets some
// inputs and the exits' accuracies vary.
ExitStatistics randomStatistics(std::mt19937_64& rng, size_t blocks, int64_t samples) {
  ExitStatistics stats;
  stats.samples = samples;
  for (size_t e = 0; e + 1 < blocks; ++e) {
    const size_t n = std::uniform_int_distribution<size_t>(1, 4)(rng);
    std::vector<double> c;
    for (size_t i = 0; i < n; ++i) c.push_back(static_cast<double>(i) / static_cast<double>(n));
    stats.candidates.push_back(c);
  }
  for (size_t row = 0; row < stats.combinations(); ++row) {
    std::vector<int64_t> exited(blocks, 0), correct(blocks, 0);
    int64_t left = samples;
    for (size_t k = 0; k + 1 < blocks; ++k) {
      exited[k] = std::uniform_int_distribution<int64_t>(0, left)(rng);
      left -= exited[k];
    }
    exited.back() = left;
    for (size_t k = 0; k < blocks; ++k)
      correct[k] = static_cast<int64_t>(std::uniform_real_distribution<double>(0.6, 1.0)(rng) * static_cast<double>(exited[k]));
    stats.exited.push_back(exited);
    stats.correct.push_back(correct);
  }
  return stats;
}

PlanningProblem randomEarlyExitProblem(std::mt19937_64& rng, size_t blocks, int devices) {
  testing::RandomProblemOptions options;
  options.minDevices = options.maxDevices = devices;
  options.maxNodes = 4;
  options.extraLinkProbability = 0.6;
  PlanningProblem problem = testing::randomProblem(rng, options);
  problem.model = {};
  EarlyExitModel model;
  int64_t largest = 0;
  std::uniform_int_distribution<int64_t> tensorBytes(16, 5000);
  for (size_t k = 0; k < blocks; ++k) {
    EarlyExitBlock block;
    block.graph = testing::randomModel(rng, std::uniform_int_distribution<int>(1, 5)(rng), 0.3);
    block.exit = fmt::format("exit_{}", k);
    block.exitBytes = 40;
    block.receives = {k == 0 ? "image" : fmt::format("features_{}", k - 1)};
    block.receiveBytes = tensorBytes(rng);
    int64_t need = block.receiveBytes;
    for (const NodeCost& node : block.graph.nodes) need += node.weightBytes + node.liveBytes + node.kernelBytes;
    largest = std::max(largest, need);
    model.blocks.push_back(std::move(block));
  }
  model.statistics = randomStatistics(rng, blocks, 1000);
  problem.earlyExit = std::move(model);
  std::uniform_real_distribution<double> room(0.6, 3.0);
  for (DeviceProfile& device : problem.fleet.devices) {
    device.flashBytes.reset();
    device.ramBytes = static_cast<int64_t>(room(rng) * static_cast<double>(largest));
  }
  if (std::bernoulli_distribution(0.3)(rng)) problem.objective = Objective{1, 0.5};
  return problem;
}

struct Best {
  double cost = INF;
  double accuracy = -1;
};

// Every placement of the blocks and every combination of thresholds, each built and costed by
// evaluateEarlyExit and re-costed request by request by checkPlan.
Best exhaustive(const PlanningProblem& problem) {
  const EarlyExitModel& model = *problem.earlyExit;
  const size_t blocks = model.blocks.size(), devices = problem.fleet.devices.size();
  // The floor: the topology's, or the bound of the last block answering everything minus the drop.
  std::optional<double> floor = problem.constraints.accuracyFloor;
  if (problem.constraints.accuracyDrop) {
    for (size_t row = 0; row < model.statistics.combinations(); ++row) {
      const std::vector<int64_t>& exited = model.statistics.exited[row];
      if (std::count(exited.begin(), exited.end() - 1, 0) != static_cast<long>(blocks - 1)) continue;
      const double relative = accuracyLowerBound(model.statistics.correct[row].back(), model.statistics.samples) -
                              *problem.constraints.accuracyDrop;
      floor = std::max(floor.value_or(0), relative);
      break;
    }
  }
  Best best;
  std::vector<size_t> placement(blocks, 0);
  for (;;) {
    for (size_t row = 0; row < model.statistics.combinations(); ++row) {
      const int64_t correct = model.statistics.correctTotal(row);
      if (floor && accuracyLowerBound(correct, model.statistics.samples) < *floor) continue;
      Result<Plan> plan = evaluateEarlyExit(problem, placement, model.statistics.choice(row));
      if (!plan) continue;
      REQUIRE_MESSAGE(checkPlan(*plan, problem).ok(), checkPlan(*plan, problem).error().message);
      if (plan->cost < best.cost * (1 - 1e-12) ||
          (plan->cost <= best.cost * (1 + 1e-12) && plan->accuracy > best.accuracy))
        best = {plan->cost, plan->accuracy};
    }
    size_t k = 0;
    while (k < blocks && ++placement[k] == devices) placement[k++] = 0;
    if (k == blocks) break;
  }
  return best;
}

// An edge (source) and a cloud (sink) 10 ms apart at 1 MB/s; results go back to the source.
// Block 0 (1 MMAC) and block 1 (9 MMAC) on the edge at 1 GMAC/s, or the cloud at 100 GMAC/s;
// 4 KB travels into block 1.
PlanningProblem twoDeviceCascade() {
  PlanningProblem problem;
  DeviceProfile edge, cloud;
  edge.name = "edge";
  cloud.name = "cloud";
  edge.macsPerSecond.fill(1e9);
  cloud.macsPerSecond.fill(100e9);
  edge.ramBytes = cloud.ramBytes = 1 << 30;
  edge.nodeOverheadSeconds = cloud.nodeOverheadSeconds = 0;
  problem.fleet.devices = {edge, cloud};
  problem.fleet.links.push_back({0, 1, 1e6, 1e6, 0.010});
  problem.source = 0;
  problem.sink = 1;
  EarlyExitModel model;
  for (int64_t macs : {1'000'000, 9'000'000}) {
    EarlyExitBlock block;
    NodeCost node;
    node.macs = macs;
    node.liveBytes = 4000;
    block.graph.nodes = {node};
    block.graph.cutBytes = {4000, 40};
    block.exitBytes = 40;
    block.receives = {"x"};
    block.receiveBytes = 4000;
    model.blocks.push_back(block);
  }
  // Threshold candidates 0.5 and 0.9: 80% or 50% of 1000 inputs finish at block 0.
  model.statistics.candidates = {{0.5, 0.9}};
  model.statistics.samples = 1000;
  model.statistics.exited = {{800, 200}, {500, 500}};
  model.statistics.correct = {{700, 190}, {490, 480}};
  problem.earlyExit = model;
  return problem;
}

}  // namespace

TEST_CASE("early_exit: the solver matches exhaustive search on random fleets") {
  std::mt19937_64 rng(14);
  int solved = 0, floored = 0, dropped = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const size_t blocks = std::uniform_int_distribution<size_t>(1, 3)(rng);
    PlanningProblem problem = randomEarlyExitProblem(rng, blocks, std::uniform_int_distribution<int>(1, 4)(rng));
    if (std::bernoulli_distribution(0.4)(rng)) problem.constraints.accuracyFloor = 0.75;
    if (std::bernoulli_distribution(0.3)(rng)) {
      // One combination sends everything to the last block (as thresholds above 1 do).
      ExitStatistics& stats = problem.earlyExit->statistics;
      const size_t row = std::uniform_int_distribution<size_t>(0, stats.combinations() - 1)(rng);
      std::fill(stats.exited[row].begin(), stats.exited[row].end(), 0);
      std::fill(stats.correct[row].begin(), stats.correct[row].end(), 0);
      stats.exited[row].back() = stats.samples;
      stats.correct[row].back() = std::uniform_int_distribution<int64_t>(700, 1000)(rng);
      problem.constraints.accuracyDrop = std::uniform_real_distribution<double>(0, 0.1)(rng);
    }
    const Best best = exhaustive(problem);
    Result<Plan> plan = solveEarlyExit(problem);
    CAPTURE(trial);
    REQUIRE(plan.ok() == (best.cost < INF));
    if (!plan) continue;
    ++solved;
    if (problem.constraints.accuracyFloor) ++floored;
    if (problem.constraints.accuracyDrop) ++dropped;
    REQUIRE_MESSAGE(checkPlan(*plan, problem).ok(), checkPlan(*plan, problem).error().message);
    CHECK(plan->cost == doctest::Approx(best.cost).epsilon(1e-9));
    CHECK(plan->accuracy == doctest::Approx(best.accuracy).epsilon(1e-12));
  }
  CHECK(solved > 150);  // the fleets are not all too small
  CHECK(floored > 30);
  CHECK(dropped > 20);
}

TEST_CASE("early_exit: accuracy_drop is measured from the last block answering everything") {
  PlanningProblem problem = twoDeviceCascade();
  ExitStatistics& stats = problem.earlyExit->statistics;
  // No combination sends everything to block 1: there is nothing to measure the drop from.
  problem.constraints.accuracyDrop = 0.01;
  Result<Plan> none = solveEarlyExit(problem);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message.find("accuracy_drop") != std::string::npos);
  // Threshold 1.01: block 1 answers all 1000, 960 right (Wilson bound 0.9485, worked by hand).
  stats.candidates = {{0.5, 0.9, 1.01}};
  stats.exited.push_back({0, 1000});
  stats.correct.push_back({0, 960});
  const double reference = accuracyLowerBound(960, 1000);
  CHECK(reference == doctest::Approx(0.9485).epsilon(1e-4));
  // A drop of 1 point allows threshold 0.9 (970 right, bound 0.959) but not 0.5 (890, 0.873).
  Result<std::optional<double>> floor = earlyExitAccuracyFloor(problem);
  REQUIRE(floor.ok());
  CHECK(**floor == doctest::Approx(reference - 0.01).epsilon(1e-12));
  Result<Plan> plan = solveEarlyExit(problem);
  REQUIRE(plan.ok());
  CHECK(plan->exitThresholds == std::vector<double>{0.9});
  // A drop of 8 points allows 0.5, which is cheaper.
  problem.constraints.accuracyDrop = 0.08;
  plan = solveEarlyExit(problem);
  REQUIRE(plan.ok());
  CHECK(plan->exitThresholds == std::vector<double>{0.5});
  // With a fixed floor too, the higher of the two holds.
  problem.constraints.accuracyFloor = 0.95;
  floor = earlyExitAccuracyFloor(problem);
  REQUIRE(floor.ok());
  CHECK(**floor == doctest::Approx(0.95).epsilon(1e-12));
  plan = solveEarlyExit(problem);
  REQUIRE(plan.ok());
  CHECK(plan->exitThresholds == std::vector<double>{0.9});
  // A drop of 0: only plans as good as the last block alone, which always qualifies.
  problem.constraints.accuracyFloor.reset();
  problem.constraints.accuracyDrop = 0.0;
  plan = solveEarlyExit(problem);
  REQUIRE(plan.ok());
  CHECK(plan->accuracy >= 0.96);
}

TEST_CASE("early_exit: a two-device cascade worked by hand") {
  PlanningProblem problem = twoDeviceCascade();

  // Both blocks on the edge, threshold 0.5: 1 ms for everyone, 9 ms for the 20% that go on;
  // results are already where requests came from.
  Result<Plan> edgeOnly = evaluateEarlyExit(problem, {0, 0}, {0});
  REQUIRE(edgeOnly.ok());
  CHECK(edgeOnly->latencySeconds == doctest::Approx(0.001 + 0.2 * 0.009).epsilon(1e-12));
  CHECK(edgeOnly->accuracy == doctest::Approx(0.89).epsilon(1e-12));
  CHECK(edgeOnly->exitFractions == std::vector<double>{0.8, 0.2});
  // Block 1 in the cloud: the 20% pay 5 ms + 4 ms for 4 KB, then 0.09 ms, then 5.04 ms for their
  // result's way back.
  Result<Plan> split = evaluateEarlyExit(problem, {0, 1}, {0});
  REQUIRE(split.ok());
  CHECK(split->latencySeconds == doctest::Approx(0.001 + 0.2 * (0.009 + 0.00009 + 0.00504)).epsilon(1e-12));
  CHECK(split->stages.size() == 2);
  CHECK(split->edges.front().kind == EdgeKind::UnlessExited);
  // The solver: with no floor the cheapest is threshold 0.5 with block 1 on the edge (9 ms there
  // against 14.1 ms via the cloud); a slower edge moves block 1 to the cloud.
  Result<Plan> best = solveEarlyExit(problem);
  REQUIRE(best.ok());
  CHECK(best->cost == doctest::Approx(edgeOnly->cost).epsilon(1e-12));
  CHECK(best->exitThresholds == std::vector<double>{0.5});
  problem.fleet.devices[0].macsPerSecond.fill(0.5e9);
  best = solveEarlyExit(problem);
  REQUIRE(best.ok());
  CHECK(best->stages.back().device == 1);
  CHECK(best->latencySeconds == doctest::Approx(0.002 + 0.2 * (0.009 + 0.00009 + 0.00504)).epsilon(1e-12));
  // A floor that only threshold 0.9 (97% right) meets moves it there.
  problem.constraints.accuracyFloor = 0.95;
  best = solveEarlyExit(problem);
  REQUIRE(best.ok());
  CHECK(best->exitThresholds == std::vector<double>{0.9});
  CHECK(best->accuracy == doctest::Approx(0.97).epsilon(1e-12));
  // Stricter than any bound: no plan, and the error says how close the best came.
  problem.constraints.accuracyFloor = 0.99;
  Result<Plan> none = solveEarlyExit(problem);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message.find("accuracy floor") != std::string::npos);
}

TEST_CASE("early_exit: the accuracy bound is Wilson's one-sided 95% lower bound") {
  // The score interval's defining property: at the bound L, the measured p is z = 1.645
  // standard errors (taken at L) above it.
  for (auto [correct, samples] : {std::pair<int64_t, int64_t>{90, 100}, {9256, 10000}, {7, 10}, {499, 500}}) {
    const double p = static_cast<double>(correct) / static_cast<double>(samples);
    const double bound = accuracyLowerBound(correct, samples);
    CHECK(bound < p);
    CHECK((p - bound) / std::sqrt(bound * (1 - bound) / static_cast<double>(samples)) ==
          doctest::Approx(1.6448536).epsilon(1e-6));
  }
  CHECK(accuracyLowerBound(9256, 10000) == doctest::Approx(0.92117).epsilon(1e-4));
  CHECK(accuracyLowerBound(0, 0) == 0);
  CHECK(accuracyLowerBound(100, 100) < 1.0);
}

}  // namespace cleave::planner
