#include "planner/early_exit_solver.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "planner/stage_graph.h"

namespace cleave::planner {
namespace {

constexpr double INF = std::numeric_limits<double>::infinity();

// Seconds and joules of `bytes` from device `from` to `to`; nullopt when no link joins them.
struct Hop {
  double seconds = 0, joules = 0;
};
std::optional<Hop> hop(const Fleet& fleet, size_t from, size_t to, int64_t bytes) {
  if (from == to) return Hop{};
  const Link* link = fleet.linkBetween(from, to);
  const double bandwidth = fleet.bytesPerSecond(from, to);
  if (!link || bandwidth <= 0) return std::nullopt;
  return Hop{link->rttSeconds / 2 + static_cast<double>(bytes) / bandwidth,
             static_cast<double>(bytes) * fleet.devices[from].radioJoulesPerByte};
}

Status checkShapes(const PlanningProblem& problem) {
  if (!problem.earlyExit) return Error{"the model bundle has no early-exit blocks"};
  const EarlyExitModel& model = *problem.earlyExit;
  const ExitStatistics& stats = model.statistics;
  if (model.blocks.empty()) return Error{"the early-exit bundle has no blocks"};
  if (stats.candidates.size() + 1 != model.blocks.size())
    return Error{fmt::format("exit statistics for {} exits, the bundle has {} blocks", stats.candidates.size() + 1,
                             model.blocks.size())};
  if (stats.samples <= 0 || stats.exited.size() != stats.combinations() || stats.correct.size() != stats.combinations())
    return Error{"the exit statistics do not cover every combination of thresholds"};
  return {};
}

// Fractions finishing at each block, for one row of the statistics.
std::vector<double> fractionsOf(const ExitStatistics& stats, size_t row) {
  std::vector<double> f;
  for (int64_t n : stats.exited[row]) f.push_back(static_cast<double>(n) / static_cast<double>(stats.samples));
  return f;
}

// What one request pays at each block of a built chain: to reach the block and run it (the hop
// into it and its compute; block 0's includes the source relay's hop when there is one), and to
// send its result from there back to the source.
struct BlockCost {
  double reachSeconds = 0, reachJoules = 0, finishSeconds = 0, finishJoules = 0;
};

Result<std::vector<BlockCost>> blockCosts(const Plan& plan, const PlanningProblem& problem) {
  const EarlyExitModel& model = *problem.earlyExit;
  const size_t first = plan.stages.size() - model.blocks.size();
  std::vector<BlockCost> costs;
  for (size_t k = 0; k < model.blocks.size(); ++k) {
    const size_t stage = first + k;
    const StagePlan& s = plan.stages[stage];
    BlockCost c{s.computeSeconds, s.computeJoules};
    if (stage > 0) {  // a chain: edge i feeds stage i + 1
      c.reachSeconds += plan.edges[stage - 1].transferSeconds;
      c.reachJoules += plan.edges[stage - 1].radioJoules;
    }
    std::optional<Hop> result = hop(problem.fleet, s.device, problem.source, model.blocks[k].exitBytes);
    if (!result)
      return Error{fmt::format("no link carries results from '{}' back to the source '{}'",
                               problem.fleet.devices[s.device].name, problem.fleet.devices[problem.source].name)};
    c.finishSeconds = result->seconds;
    c.finishJoules = result->joules;
    costs.push_back(c);
  }
  return costs;
}

// One placement's costs per block, in objective units: what a request reaching block k pays to
// get there and run it (`reach`), and what one finishing there pays to send its result (`finish`).
struct PlacementCosts {
  std::vector<size_t> devices;
  std::vector<double> reach, finish;
};

// Every placement of the blocks that fits in memory and has the links it needs.
std::vector<PlacementCosts> feasiblePlacements(const PlanningProblem& problem) {
  const EarlyExitModel& model = *problem.earlyExit;
  const Fleet& fleet = problem.fleet;
  const size_t blocks = model.blocks.size(), devices = fleet.devices.size();
  std::vector<PlacementCosts> out;
  std::vector<size_t> placement(blocks, 0);
  std::vector<size_t> noChoice(model.statistics.candidates.size(), 0);
  for (;;) {
    // Evaluating the plan checks memory and links and gives each stage's and edge's figures.
    if (Result<Plan> plan = evaluateEarlyExit(problem, placement, noChoice)) {
      PlacementCosts c;
      c.devices = placement;
      const Objective& o = problem.objective;
      const Result<std::vector<BlockCost>> costs = blockCosts(*plan, problem);  // evaluate succeeded: it does
      for (const BlockCost& block : *costs) {
        c.reach.push_back(o.cost(block.reachSeconds, block.reachJoules));
        c.finish.push_back(o.cost(block.finishSeconds, block.finishJoules));
      }
      out.push_back(std::move(c));
    }
    size_t k = 0;
    while (k < blocks && ++placement[k] == devices) placement[k++] = 0;
    if (k == blocks) break;
  }
  return out;
}

}  // namespace

Result<Plan> evaluateEarlyExit(const PlanningProblem& problem, const std::vector<size_t>& blockDevices,
                               const std::vector<size_t>& exitChoice) {
  CLEAVE_TRY(checkShapes(problem));
  const EarlyExitModel& model = *problem.earlyExit;
  const ExitStatistics& stats = model.statistics;
  const Fleet& fleet = problem.fleet;
  const size_t blocks = model.blocks.size();
  if (blockDevices.size() != blocks)
    return Error{fmt::format("{} block placements for {} blocks", blockDevices.size(), blocks)};
  for (size_t d : blockDevices)
    if (d >= fleet.devices.size()) return Error{fmt::format("device {} does not exist", d)};
  if (exitChoice.size() != stats.candidates.size())
    return Error{fmt::format("{} thresholds for {} exits", exitChoice.size(), stats.candidates.size())};
  for (size_t e = 0; e < exitChoice.size(); ++e)
    if (exitChoice[e] >= stats.candidates[e].size())
      return Error{fmt::format("exit {} has no threshold candidate {}", e, exitChoice[e])};

  Plan plan;
  plan.strategy = Strategy::EarlyExit;
  // Requests enter on the source: a relay there when block 0 runs elsewhere.
  if (blockDevices.front() != problem.source) {
    StagePlan relay;
    relay.device = problem.source;
    relay.graph = StageGraph::Relay;
    fillStageFigures(relay, problem, model.blocks.front().receiveBytes);
    plan.stages.push_back(relay);
  }
  for (size_t k = 0; k < blocks; ++k) {
    StagePlan stage;
    stage.device = blockDevices[k];
    stage.graph = StageGraph::Block;
    stage.graphIndex = static_cast<uint32_t>(k);
    stage.end = model.blocks[k].graph.positions();
    fillStageFigures(stage, problem);
    plan.stages.push_back(stage);
    if (plan.stages.size() == 1) continue;
    PlanEdge edge;
    edge.from = plan.stages.size() - 2;
    edge.to = plan.stages.size() - 1;
    edge.kind = k == 0 ? EdgeKind::Always : EdgeKind::UnlessExited;
    edge.tensors = model.blocks[k].receives;
    edge.bytes = model.blocks[k].receiveBytes;
    CLEAVE_TRY(fillEdgeFigures(edge, plan.stages, fleet));
    plan.edges.push_back(std::move(edge));
  }
  for (size_t device = 0; device < fleet.devices.size(); ++device) {
    MemoryShortfall memory = deviceMemory(plan, device, problem);
    if (!memory.fits())
      return Error{fmt::format("'{}' cannot hold its early-exit blocks: {} bytes of RAM needed, {} available",
                               fleet.devices[device].name, memory.ramNeeded, memory.ramAvailable)};
  }

  // Means over requests: block k runs (and its input travels) for the fraction reaching it.
  const size_t row = stats.row(exitChoice);
  plan.exitChoice = exitChoice;
  for (size_t e = 0; e < exitChoice.size(); ++e) plan.exitThresholds.push_back(stats.candidates[e][exitChoice[e]]);
  plan.exitFractions = fractionsOf(stats, row);
  Result<std::vector<BlockCost>> costs = blockCosts(plan, problem);
  if (!costs) return costs.error();
  double seconds = 0, joules = 0, reaching = 1;
  for (size_t k = 0; k < blocks; ++k) {
    const BlockCost& c = (*costs)[k];
    seconds += reaching * c.reachSeconds + plan.exitFractions[k] * c.finishSeconds;
    joules += reaching * c.reachJoules + plan.exitFractions[k] * c.finishJoules;
    reaching -= plan.exitFractions[k];
  }
  plan.latencySeconds = seconds;
  plan.energyJoules = joules;
  plan.cost = problem.objective.cost(seconds, joules);
  plan.accuracy = static_cast<double>(stats.correctTotal(row)) / static_cast<double>(stats.samples);
  return plan;
}

Result<std::optional<double>> earlyExitAccuracyFloor(const PlanningProblem& problem) {
  std::optional<double> floor = problem.constraints.accuracyFloor;
  if (!problem.constraints.accuracyDrop) return floor;
  const ExitStatistics& stats = problem.earlyExit->statistics;
  const std::optional<size_t> lastOnly = stats.lastBlockOnlyRow();
  if (!lastOnly)
    return Error{"accuracy_drop needs the bundle's statistics to have thresholds that send every input to the "
                 "last block (a candidate above 1 for every exit), and they have none"};
  // Bound against bound, so the last block alone always qualifies.
  const double relative = accuracyLowerBound(stats.correctTotal(*lastOnly), stats.samples) - *problem.constraints.accuracyDrop;
  return std::optional<double>(floor ? std::max(*floor, relative) : relative);
}

Result<Plan> solveEarlyExit(const PlanningProblem& problem) {
  CLEAVE_TRY(checkShapes(problem));
  Result<std::optional<double>> accuracyFloor = earlyExitAccuracyFloor(problem);
  if (!accuracyFloor) return accuracyFloor.error();
  const std::optional<double> floor = *accuracyFloor;
  const EarlyExitModel& model = *problem.earlyExit;
  const ExitStatistics& stats = model.statistics;
  constexpr size_t MAX_PLACEMENTS = 1 << 20;
  if (std::pow(static_cast<double>(problem.fleet.devices.size()), static_cast<double>(model.blocks.size())) >
      MAX_PLACEMENTS)
    return Error{fmt::format("{} blocks on {} devices are too many placements to search", model.blocks.size(),
                             problem.fleet.devices.size())};
  const std::vector<PlacementCosts> placements = feasiblePlacements(problem);
  if (placements.empty()) return Error{"no placement of the early-exit blocks fits the fleet"};

  double bestCost = INF, bestAccuracy = -1, bestBound = -1;
  size_t bestRow = 0, bestPlacement = 0;
  for (size_t row = 0; row < stats.combinations(); ++row) {
    const int64_t correct = stats.correctTotal(row);
    const double bound = accuracyLowerBound(correct, stats.samples);
    bestBound = std::max(bestBound, bound);
    if (floor && bound < *floor) continue;
    const double accuracy = static_cast<double>(correct) / static_cast<double>(stats.samples);
    const std::vector<double> f = fractionsOf(stats, row);
    for (size_t p = 0; p < placements.size(); ++p) {
      double cost = 0, reaching = 1;
      for (size_t k = 0; k < f.size(); ++k) {
        cost += reaching * placements[p].reach[k] + f[k] * placements[p].finish[k];
        reaching -= f[k];
      }
      // Ties (exits no request reaches, placements that cost alike): the more accurate, then the first.
      if (cost < bestCost * (1 - 1e-12) || (cost <= bestCost * (1 + 1e-12) && accuracy > bestAccuracy)) {
        bestCost = cost;
        bestAccuracy = accuracy;
        bestRow = row;
        bestPlacement = p;
      }
    }
  }
  if (bestCost == INF)
    return Error{fmt::format("no exit thresholds meet the accuracy floor of {:.4f} (the best lower bound is {:.4f})",
                             *floor, bestBound)};
  return evaluateEarlyExit(problem, placements[bestPlacement].devices, stats.choice(bestRow));
}

}  // namespace cleave::planner
