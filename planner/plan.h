// A plan: which device runs which nodes, along which route, and what that is predicted to cost.
#pragma once

#include <cstdint>
#include <vector>

#include "planner/problem.h"

namespace cleave::planner {

// One device's share of a split plan: nodes [begin, end) (empty when begin == end: the device
// only relays), then the tensors live across `end` sent to the next device on the route.
struct StagePlan {
  size_t device = 0;
  int64_t begin = 0, end = 0;
  int64_t macs = 0;
  double computeSeconds = 0;
  double computeJoules = 0;
  int64_t weightBytes = 0;
  int64_t peakBytes = 0;       // activation bytes at the stage's worst step (relayed bytes when empty)
  int64_t sendBytes = 0;       // to the next device; 0 for the last stage
  double transferSeconds = 0;  // RTT/2 + bytes / bandwidth of that hop
  double radioJoules = 0;      // sender's radio energy for those bytes
};

struct Plan {
  Strategy strategy = Strategy::Split;
  std::vector<StagePlan> stages;  // in route order: stages.front() on the source, back() on the sink
  double latencySeconds = 0;      // one request, end to end
  double energyJoules = 0;
  double cost = 0;  // the objective's value

  // The route's device indices and the cut positions between consecutive stages.
  std::vector<size_t> route() const;
  std::vector<int64_t> cuts() const;
  // Same route and the same cuts: the same assignment of nodes to devices.
  bool sameAssignment(const Plan& other) const;
};

}  // namespace cleave::planner
