#include "planner/plan.h"

namespace cleave::planner {

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
  return strategy == other.strategy && route() == other.route() && cuts() == other.cuts();
}

}  // namespace cleave::planner
