#include "planner/plan.h"

namespace cleave::planner {

const char* stageGraphName(StageGraph graph) {
  switch (graph) {
    case StageGraph::Model: return "model";
    case StageGraph::Student: return "student";
    case StageGraph::Fusion: return "fusion";
    case StageGraph::Relay: return "relay";
    case StageGraph::Block: return "block";
  }
  return "?";
}

std::vector<size_t> Plan::route() const {
  std::vector<size_t> devices;
  for (const StagePlan& stage : stages) devices.push_back(stage.device);
  return devices;
}

std::vector<int64_t> Plan::cuts() const {
  std::vector<int64_t> positions;
  for (size_t i = 1; i < stages.size(); ++i) positions.push_back(stages[i].begin);
  return positions;
}

bool Plan::sameAssignment(const Plan& other) const {
  if (strategy != other.strategy || route() != other.route() || cuts() != other.cuts()) return false;
  if (stages.size() != other.stages.size() || edges.size() != other.edges.size()) return false;
  for (size_t i = 0; i < stages.size(); ++i)
    if (stages[i].graph != other.stages[i].graph || stages[i].graphIndex != other.stages[i].graphIndex ||
        stages[i].end != other.stages[i].end)
      return false;
  for (size_t i = 0; i < edges.size(); ++i)
    if (edges[i].from != other.edges[i].from || edges[i].to != other.edges[i].to) return false;
  return missingStudents == other.missingStudents && exitChoice == other.exitChoice;
}

bool preferable(const Plan& a, const Plan& b) {
  constexpr double EPSILON = 1e-9;
  // Leaving students out is what a plan does when nothing better fits, never a way to be cheap.
  if (a.missingStudents.empty() != b.missingStudents.empty()) return a.missingStudents.empty();
  if (a.strategy == b.strategy && a.strategy == Strategy::Nonn) {
    if (a.missingStudents.size() != b.missingStudents.size())
      return a.missingStudents.size() < b.missingStudents.size();
    if (a.accuracy > b.accuracy + EPSILON) return true;
    if (b.accuracy > a.accuracy + EPSILON) return false;
  }
  return a.cost < b.cost * (1 - EPSILON);
}

}  // namespace cleave::planner
