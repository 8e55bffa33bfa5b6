#include "planner/planner.h"

#include <optional>

#include <fmt/format.h>

#include "planner/cost_model.h"
#include "planner/early_exit_solver.h"
#include "planner/nonn_solver.h"
#include "planner/plan_check.h"
#include "planner/units.h"

namespace cleave::planner {
namespace {

Result<PlanSet> planSplit(const PlanningProblem& problem, const SplitOptions& options) {
  if (problem.model.cutBytes.empty()) return Error{"the model bundle has no graph to split"};
  CostModel model(problem);
  Result<SplitResult> solved = solveSplit(model, options);
  if (!solved) return solved.error();
  PlanSet set{Strategy::Split, std::move(solved->plans), {}};
  if (solved->routesTruncated)
    set.notes.push_back(fmt::format("searched only the first {} routes from source to sink", solved->routesSearched));
  const Plan& best = set.plans.front();
  if (problem.constraints.latencySloSeconds && best.latencySeconds > *problem.constraints.latencySloSeconds)
    set.notes.push_back(fmt::format("the best plan's latency {} misses the latency SLO of {}",
                                    formatSeconds(best.latencySeconds),
                                    formatSeconds(*problem.constraints.latencySloSeconds)));
  return set;
}

Result<PlanSet> planNonn(const PlanningProblem& problem) {
  Result<Plan> solved = solveNonn(problem);
  if (!solved) return solved.error();
  PlanSet set{Strategy::Nonn, {std::move(*solved)}, {}};
  const Plan& best = set.plans.front();
  for (uint32_t k : best.missingStudents)
    set.notes.push_back(fmt::format("no device can take student {}: the fusion runs without its features", k));
  if (problem.constraints.latencySloSeconds && best.latencySeconds > *problem.constraints.latencySloSeconds)
    set.notes.push_back(fmt::format("the best plan's latency {} misses the latency SLO of {}",
                                    formatSeconds(best.latencySeconds),
                                    formatSeconds(*problem.constraints.latencySloSeconds)));
  return set;
}

Result<PlanSet> planEarlyExit(const PlanningProblem& problem) {
  Result<Plan> solved = solveEarlyExit(problem);
  if (!solved) return solved.error();
  PlanSet set{Strategy::EarlyExit, {std::move(*solved)}, {}};
  const Plan& best = set.plans.front();
  if (problem.constraints.latencySloSeconds && best.latencySeconds > *problem.constraints.latencySloSeconds)
    set.notes.push_back(fmt::format("the best plan's mean latency {} misses the latency SLO of {}",
                                    formatSeconds(best.latencySeconds),
                                    formatSeconds(*problem.constraints.latencySloSeconds)));
  return set;
}

}  // namespace

Result<PlanSet> makePlan(const PlanningProblem& problem, Strategy strategy, const std::vector<Strategy>& allowed,
                         const SplitOptions& options) {
  if (strategy == Strategy::Auto) {
    std::vector<std::string> errors;
    Result<PlanSet> best = Error{"the bundle allows no strategy"};
    for (Strategy candidate : allowed) {
      if (candidate == Strategy::Auto) continue;
      Result<PlanSet> set = makePlan(problem, candidate, allowed, options);
      if (!set) {
        errors.push_back(fmt::format("{}: {}", strategyName(candidate), set.error().message));
        continue;
      }
      if (!best || set->plans.front().cost < best->plans.front().cost) best = std::move(set);
    }
    if (!best) return Error{fmt::format("no strategy could plan this fleet ({})", fmt::join(errors, "; "))};
    return best;
  }
  bool isAllowed = false;
  for (Strategy s : allowed) isAllowed = isAllowed || s == strategy;
  if (!isAllowed) return Error{fmt::format("the model bundle does not support the '{}' strategy", strategyName(strategy))};
  switch (strategy) {
    case Strategy::Split: return planSplit(problem, options);
    case Strategy::Nonn: return planNonn(problem);
    case Strategy::EarlyExit: return planEarlyExit(problem);
    case Strategy::Clio:
      return Error{fmt::format("the '{}' strategy's solver is not built yet", strategyName(strategy))};
    case Strategy::Auto: break;
  }
  return Error{"unknown strategy"};
}

Result<Plan> reevaluatePlan(const PlanningProblem& problem, const Plan& plan) {
  switch (plan.strategy) {
    case Strategy::Split: {
      Plan evaluated = CostModel(problem).evaluate(plan.route(), plan.cuts());
      CLEAVE_TRY(checkPlan(evaluated, problem));
      return evaluated;
    }
    case Strategy::Nonn: {
      if (!problem.nonn) return Error{"the problem has no students"};
      std::vector<std::optional<size_t>> students(problem.nonn->students.size());
      std::optional<size_t> fusion;
      for (const StagePlan& stage : plan.stages) {
        if (stage.graph == StageGraph::Student && stage.graphIndex < students.size()) students[stage.graphIndex] = stage.device;
        if (stage.graph == StageGraph::Fusion) fusion = stage.device;
      }
      if (!fusion) return Error{"the plan has no fusion stage"};
      return evaluateNonn(problem, students, *fusion);
    }
    case Strategy::EarlyExit: {
      std::vector<size_t> blocks;
      for (const StagePlan& stage : plan.stages)
        if (stage.graph == StageGraph::Block) blocks.push_back(stage.device);
      return evaluateEarlyExit(problem, blocks, plan.exitChoice);
    }
    default:
      return Error{fmt::format("{} plans cannot be re-costed yet", strategyName(plan.strategy))};
  }
}

}  // namespace cleave::planner
