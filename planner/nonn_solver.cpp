#include "planner/nonn_solver.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "planner/stage_graph.h"

namespace cleave::planner {
namespace {

constexpr double INF = std::numeric_limits<double>::infinity();

// Minimum-cost assignment of every row to a distinct column, over the pairs whose cost is
// finite; nullopt when no assignment covers every row. Successive shortest paths with
// Bellman-Ford on the residual graph: rows x columns stays small (students x devices).
std::optional<std::vector<size_t>> minCostAssignment(const std::vector<std::vector<double>>& cost, size_t columns) {
  const size_t rows = cost.size();
  std::vector<std::optional<size_t>> columnOf(rows), rowOf(columns);
  for (size_t round = 0; round < rows; ++round) {
    // Nodes: rows [0, rows), columns [rows, rows + columns). Paths start at an unassigned row,
    // go row -> column on an unused pair, column -> row back along an assignment.
    const size_t nodes = rows + columns;
    std::vector<double> distance(nodes, INF);
    std::vector<std::optional<size_t>> previous(nodes);
    for (size_t r = 0; r < rows; ++r)
      if (!columnOf[r]) distance[r] = 0;
    for (size_t pass = 0; pass < nodes; ++pass) {
      bool changed = false;
      for (size_t r = 0; r < rows; ++r) {
        if (distance[r] == INF) continue;
        for (size_t c = 0; c < columns; ++c) {
          if (cost[r][c] == INF || columnOf[r] == c) continue;
          if (distance[r] + cost[r][c] < distance[rows + c]) {
            distance[rows + c] = distance[r] + cost[r][c];
            previous[rows + c] = r;
            changed = true;
          }
        }
      }
      for (size_t c = 0; c < columns; ++c) {
        if (distance[rows + c] == INF || !rowOf[c]) continue;
        const size_t r = *rowOf[c];
        if (distance[rows + c] - cost[r][c] < distance[r]) {
          distance[r] = distance[rows + c] - cost[r][c];
          previous[r] = rows + c;
          changed = true;
        }
      }
      if (!changed) break;
    }
    std::optional<size_t> end;
    for (size_t c = 0; c < columns; ++c)
      if (!rowOf[c] && distance[rows + c] < INF && (!end || distance[rows + c] < distance[rows + *end])) end = c;
    if (!end) return std::nullopt;
    // Flip the path: each column on it takes the row before it.
    for (size_t c = *end;;) {
      const size_t r = *previous[rows + c];
      const std::optional<size_t> before = columnOf[r];
      columnOf[r] = c;
      rowOf[c] = r;
      if (!previous[r]) break;
      c = *before;
    }
  }
  std::vector<size_t> assignment(rows);
  for (size_t r = 0; r < rows; ++r) assignment[r] = *columnOf[r];
  return assignment;
}

// What each (student, device) pair costs for one fusion device.
struct Pair {
  double seconds = INF;  // input transfer + compute + features to the fusion device
  double joules = 0;
};

class Placement {
 public:
  explicit Placement(const PlanningProblem& problem) : problem_(problem), nonn_(*problem.nonn) {}

  // The cheapest placement of `students` with the fusion on `fusion`; cost INF when none.
  struct Best {
    double cost = INF;
    std::vector<size_t> devices;  // per entry of `students`
  };
  Best solve(const std::vector<size_t>& students, size_t fusion) const {
    Best best;
    std::optional<Plan> fixedPart = fusionPart(fusion);
    if (!fixedPart) return best;
    const size_t devices = problem_.fleet.devices.size();
    std::vector<std::vector<Pair>> pairs(students.size(), std::vector<Pair>(devices));
    std::vector<double> thresholds;
    for (size_t i = 0; i < students.size(); ++i)
      for (size_t d = 0; d < devices; ++d) {
        pairs[i][d] = pair(students[i], d, fusion, *fixedPart);
        if (pairs[i][d].seconds < INF) thresholds.push_back(pairs[i][d].seconds);
      }
    std::sort(thresholds.begin(), thresholds.end());
    thresholds.erase(std::unique(thresholds.begin(), thresholds.end()), thresholds.end());
    const Objective& objective = problem_.objective;
    for (double threshold : thresholds) {
      // The latency part is at least this threshold's: nothing from here on can win.
      if (objective.latencyWeight * threshold >= best.cost) break;
      std::vector<std::vector<double>> energy(students.size(), std::vector<double>(devices, INF));
      for (size_t i = 0; i < students.size(); ++i)
        for (size_t d = 0; d < devices; ++d)
          if (pairs[i][d].seconds <= threshold) energy[i][d] = objective.energyWeight * pairs[i][d].joules;
      std::optional<std::vector<size_t>> assigned = minCostAssignment(energy, devices);
      if (!assigned) continue;
      double slowest = 0, joules = 0;
      for (size_t i = 0; i < students.size(); ++i) {
        slowest = std::max(slowest, pairs[i][(*assigned)[i]].seconds);
        joules += pairs[i][(*assigned)[i]].joules;
      }
      const double cost = objective.cost(slowest + fixedPart->latencySeconds, joules + fixedPart->energyJoules);
      if (cost < best.cost) best = {cost, *assigned};
      if (objective.energyWeight == 0) break;  // the first feasible threshold is the fastest
    }
    return best;
  }

 private:
  // The fusion on `fusion` and the result's way to the sink, as a plan of its own (its latency
  // and energy are what every placement adds); nullopt when they cannot run there.
  std::optional<Plan> fusionPart(size_t fusion) const {
    std::vector<std::optional<size_t>> none(nonn_.students.size());
    Result<Plan> plan = evaluateNonn(problem_, none, fusion);
    if (!plan) return std::nullopt;
    return std::move(*plan);
  }

  Pair pair(size_t student, size_t device, size_t fusion, const Plan& fixedPart) const {
    const Fleet& fleet = problem_.fleet;
    const ModelCosts& graph = nonn_.students[student].graph;
    const size_t source = problem_.source;
    Pair p;
    // Memory: the student beside whatever the device holds for this fusion choice.
    Plan together = fixedPart;
    StagePlan stage;
    stage.device = device;
    stage.graph = StageGraph::Student;
    stage.graphIndex = static_cast<uint32_t>(student);
    stage.end = graph.positions();
    fillStageFigures(stage, problem_);
    together.stages.push_back(stage);
    if (!deviceMemory(together, device, problem_).fits()) return p;
    double seconds = stage.computeSeconds, joules = stage.computeJoules;
    auto hop = [&](size_t from, size_t to, int64_t bytes) {
      if (from == to) return true;
      const Link* link = fleet.linkBetween(from, to);
      const double bandwidth = fleet.bytesPerSecond(from, to);
      if (!link || bandwidth <= 0) return false;
      seconds += link->rttSeconds / 2 + static_cast<double>(bytes) / bandwidth;
      joules += static_cast<double>(bytes) * fleet.devices[from].radioJoulesPerByte;
      return true;
    };
    if (!hop(source, device, graph.cutBytes.front()) || !hop(device, fusion, graph.cutBytes.back())) return p;
    return {seconds, joules};
  }

  const PlanningProblem& problem_;
  const NonnModel& nonn_;
};

}  // namespace

double nonnAccuracy(const NonnModel& model, const std::vector<bool>& present) {
  std::vector<size_t> missing;
  for (size_t k = 0; k < present.size(); ++k)
    if (!present[k]) missing.push_back(k);
  if (missing.empty()) return model.accuracy;
  if (missing.size() == 1) return model.students[missing.front()].accuracyWithout;
  return 0;
}

Result<Plan> evaluateNonn(const PlanningProblem& problem, const std::vector<std::optional<size_t>>& studentDevices,
                          size_t fusionDevice) {
  if (!problem.nonn) return Error{"the model bundle has no nonn graphs"};
  const NonnModel& nonn = *problem.nonn;
  const Fleet& fleet = problem.fleet;
  if (studentDevices.size() != nonn.students.size())
    return Error{fmt::format("{} student placements for {} students", studentDevices.size(), nonn.students.size())};
  for (const std::optional<size_t>& device : studentDevices)
    if (device && *device >= fleet.devices.size()) return Error{fmt::format("device {} does not exist", *device)};
  if (fusionDevice >= fleet.devices.size()) return Error{fmt::format("device {} does not exist", fusionDevice)};

  Plan plan;
  plan.strategy = Strategy::Nonn;
  auto addStage = [&](size_t device, StageGraph graph, uint32_t index, int64_t relayBytes) {
    StagePlan stage;
    stage.device = device;
    stage.graph = graph;
    stage.graphIndex = index;
    const ModelCosts* model = graph == StageGraph::Student ? &nonn.students[index].graph
                              : graph == StageGraph::Fusion ? &nonn.fusion
                                                            : nullptr;
    stage.end = model ? model->positions() : 0;
    fillStageFigures(stage, problem, relayBytes);
    plan.stages.push_back(stage);
    return plan.stages.size() - 1;
  };
  auto addEdge = [&](size_t from, size_t to, std::string tensor, int64_t bytes) -> Status {
    PlanEdge edge;
    edge.from = from;
    edge.to = to;
    edge.tensors = {std::move(tensor)};
    edge.bytes = bytes;
    if (Status linked = fillEdgeFigures(edge, plan.stages, fleet); !linked) return linked;
    plan.edges.push_back(std::move(edge));
    return {};
  };

  const int64_t inputBytes = nonn.students.empty() ? 0 : nonn.students.front().graph.cutBytes.front();
  const size_t entry = addStage(problem.source, StageGraph::Relay, 0, inputBytes);
  std::vector<std::pair<uint32_t, size_t>> placed;  // student, its stage
  std::vector<bool> present(nonn.students.size(), false);
  for (size_t k = 0; k < studentDevices.size(); ++k) {
    if (!studentDevices[k]) {
      plan.missingStudents.push_back(static_cast<uint32_t>(k));
      continue;
    }
    present[k] = true;
    placed.emplace_back(static_cast<uint32_t>(k), addStage(*studentDevices[k], StageGraph::Student,
                                                           static_cast<uint32_t>(k), 0));
  }
  const size_t fusion = addStage(fusionDevice, StageGraph::Fusion, 0, 0);
  for (auto [k, stage] : placed) {
    const ModelCosts& graph = nonn.students[k].graph;
    if (Status s = addEdge(entry, stage, nonn.input, graph.cutBytes.front()); !s) return s.error();
    if (Status s = addEdge(stage, fusion, nonn.students[k].features, graph.cutBytes.back()); !s) return s.error();
  }
  if (fusionDevice != problem.sink) {
    const int64_t resultBytes = nonn.fusion.cutBytes.back();
    const size_t last = addStage(problem.sink, StageGraph::Relay, 0, resultBytes);
    if (Status s = addEdge(fusion, last, nonn.output, resultBytes); !s) return s.error();
  }
  for (size_t device = 0; device < fleet.devices.size(); ++device) {
    MemoryShortfall memory = deviceMemory(plan, device, problem);
    if (!memory.fits())
      return Error{fmt::format("'{}' cannot hold its nonn stages: {} bytes of RAM needed, {} available",
                               fleet.devices[device].name, memory.ramNeeded, memory.ramAvailable)};
  }
  fillTotals(plan, problem.objective);
  plan.accuracy = nonnAccuracy(nonn, present);
  return plan;
}

Result<Plan> solveNonn(const PlanningProblem& problem) {
  if (!problem.nonn) return Error{"the model bundle has no nonn graphs"};
  const size_t students = problem.nonn->students.size(), devices = problem.fleet.devices.size();
  if (students == 0) return Error{"the nonn bundle has no students"};
  // Degraded plans leave students out; every subset is tried, so K stays small.
  constexpr size_t MAX_STUDENTS = 16;
  if (students > MAX_STUDENTS) return Error{fmt::format("nonn plans at most {} students", MAX_STUDENTS)};
  const std::optional<double> floor = problem.constraints.accuracyFloor;
  Placement placement(problem);

  for (size_t count = std::min(students, devices); count >= 1; --count) {
    // Every subset of `count` students: the most accurate placeable one, then the cheapest.
    struct Candidate {
      double accuracy = -1, cost = INF;
      std::vector<std::optional<size_t>> devices;
      size_t fusion = 0;
    };
    std::optional<Candidate> best;
    for (uint32_t mask = 0; mask < (1u << students); ++mask) {
      if (static_cast<size_t>(std::popcount(mask)) != count) continue;
      std::vector<size_t> chosen;
      std::vector<bool> present(students, false);
      for (size_t k = 0; k < students; ++k)
        if (mask & (1u << k)) {
          chosen.push_back(k);
          present[k] = true;
        }
      const double accuracy = nonnAccuracy(*problem.nonn, present);
      if (floor && accuracy < *floor) continue;
      if (best && accuracy < best->accuracy) continue;
      for (size_t fusion = 0; fusion < devices; ++fusion) {
        Placement::Best found = placement.solve(chosen, fusion);
        if (found.cost == INF) continue;
        if (best && accuracy == best->accuracy && found.cost >= best->cost) continue;
        Candidate candidate{accuracy, found.cost, std::vector<std::optional<size_t>>(students), fusion};
        for (size_t i = 0; i < chosen.size(); ++i) candidate.devices[chosen[i]] = found.devices[i];
        best = std::move(candidate);
      }
    }
    if (best) return evaluateNonn(problem, best->devices, best->fusion);
  }
  return Error{fmt::format("no device can take any of the {} students{}", students,
                           floor ? fmt::format(" at an accuracy of at least {}", *floor) : "")};
}

}  // namespace cleave::planner
