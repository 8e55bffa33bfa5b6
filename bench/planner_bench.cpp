// Planner solve times (Google Benchmark): the split solver on chains of 2, 4 and 8 devices for
// models of 50 to 400 cut positions, exhaustive search as the peer where it is tractable, and a
// re-plan by Neurosurgeon-curve lookup against a full solve. run_planner_bench.sh turns the JSON
// into bench/results/planner.md.
#include <benchmark/benchmark.h>

#include "planner/bandwidth_curve.h"
#include "planner/cost_model.h"
#include "planner/exhaustive_search.h"
#include "planner/random_problem.h"
#include "planner/split_solver.h"

namespace cleave::planner {
namespace {

// A chain source -> ... -> sink of `devices` devices, a model of `positions` nodes with skip
// connections, memory tight enough that some stages do not fit.
PlanningProblem chainProblem(int positions, int devices) {
  std::mt19937_64 rng(static_cast<uint64_t>(positions * 31 + devices));
  testing::RandomProblemOptions options{positions, positions, devices, devices, 0.3, 0.0, 1.2};
  PlanningProblem problem = testing::randomProblem(rng, options);
  problem.objective = Objective::latency();
  for (DeviceProfile& d : problem.fleet.devices) d.ramBytes *= 4;  // feasible, yet binding for long stages
  return problem;
}

void splitSolve(benchmark::State& state) {
  PlanningProblem problem = chainProblem(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    CostModel model(problem);
    Result<SplitResult> result = solveSplit(model);
    if (!result) state.SkipWithError(result.error().message.c_str());
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(splitSolve)
    ->ArgsProduct({{50, 100, 150, 200, 300, 400}, {2, 4, 8}})
    ->ArgNames({"positions", "devices"})
    ->Unit(benchmark::kMillisecond);

void exhaustiveSearch(benchmark::State& state) {
  PlanningProblem problem = chainProblem(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  for (auto _ : state) benchmark::DoNotOptimize(testing::exhaustive(problem));
}
BENCHMARK(exhaustiveSearch)->Args({50, 2})->Args({50, 4})->ArgNames({"positions", "devices"})->Unit(benchmark::kMillisecond);

// Two devices with room for any cut: the curve needs at least one cut that fits both, and the
// chain's binding memory leaves none at 150 positions on two devices.
PlanningProblem roomyPair(int positions) {
  PlanningProblem problem = chainProblem(positions, 2);
  for (DeviceProfile& d : problem.fleet.devices) {
    d.ramBytes = int64_t{1} << 40;
    d.flashBytes.reset();
  }
  return problem;
}

// Re-planning when the source -> sink bandwidth moves: a lookup in the precomputed curve
// against solving again.
void curveLookup(benchmark::State& state) {
  PlanningProblem problem = roomyPair(static_cast<int>(state.range(0)));
  Result<BandwidthCurve> curve = pairCurve(problem, 1e3, 1e9);
  if (!curve) {
    state.SkipWithError(curve.error().message.c_str());
    return;
  }
  double bandwidth = 1e3;
  for (auto _ : state) {
    bandwidth = bandwidth > 1e9 ? 1e3 : bandwidth * 1.37;
    benchmark::DoNotOptimize(curve->at(bandwidth).plan.cost);
  }
}
BENCHMARK(curveLookup)->Arg(150)->ArgNames({"positions"})->Unit(benchmark::kMicrosecond);

void curveBuild(benchmark::State& state) {
  PlanningProblem problem = roomyPair(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    Result<BandwidthCurve> curve = pairCurve(problem, 1e3, 1e9);
    if (!curve) state.SkipWithError(curve.error().message.c_str());
    benchmark::DoNotOptimize(curve);
  }
}
BENCHMARK(curveBuild)->Arg(150)->ArgNames({"positions"})->Unit(benchmark::kMillisecond);

void sweepBuild(benchmark::State& state) {
  PlanningProblem problem = chainProblem(static_cast<int>(state.range(0)), 4);
  for (auto _ : state) benchmark::DoNotOptimize(sweepLink(problem, 0, 1, 1e3, 1e9));
}
BENCHMARK(sweepBuild)->Arg(150)->ArgNames({"positions"})->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cleave::planner

BENCHMARK_MAIN();
