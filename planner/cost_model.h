// The cost model every solver shares: what a stage costs on a device, what a hop costs on a
// link, and whether a stage fits. Prefix sums and a sparse table make each query O(1), so the
// dynamic programmes stay O(devices x positions^2).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "planner/plan.h"
#include "planner/problem.h"

namespace cleave::planner {

// What a device lacks to hold a stage (all zero when it fits).
struct MemoryShortfall {
  int64_t weightBytes = 0;      // needed in flash (or RAM without flash)
  int64_t activationBytes = 0;  // peak activations
  int64_t kernelBytes = 0;      // held by kernels plus their shared workspace, always in RAM
  int64_t ramNeeded = 0, ramAvailable = 0;
  int64_t flashNeeded = 0, flashAvailable = 0;
  // "float32" or "int8" when the stage holds a node of a precision the device has no kernels for.
  std::string missingPrecision;
  bool fits() const { return ramNeeded <= ramAvailable && flashNeeded <= flashAvailable && missingPrecision.empty(); }
};

class CostModel {
 public:
  explicit CostModel(const PlanningProblem& problem);

  const PlanningProblem& problem() const { return problem_; }
  int64_t positions() const { return problem_.model.positions(); }

  // Nodes [begin, end) on `device`: seconds, joules, memory.
  double computeSeconds(size_t device, int64_t begin, int64_t end) const;
  double computeJoules(size_t device, int64_t begin, int64_t end) const;
  int64_t macs(int64_t begin, int64_t end) const;
  int64_t weightBytes(int64_t begin, int64_t end) const;
  // Peak activation bytes of the stage; for an empty stage, the bytes it relays.
  int64_t peakBytes(int64_t begin, int64_t end) const;
  MemoryShortfall memory(size_t device, int64_t begin, int64_t end) const;
  bool fits(size_t device, int64_t begin, int64_t end) const { return memory(device, begin, end).fits(); }

  // Sending the tensors live across `position` from one device to the next.
  double transferSeconds(size_t from, size_t to, int64_t position) const;
  double transferJoules(size_t from, int64_t position) const;

  // Objective value of a stage followed (unless it is the last) by a hop to `next`.
  double stageCost(size_t device, int64_t begin, int64_t end) const;
  double hopCost(size_t from, size_t to, int64_t position) const;

  // The full plan for a route and its cuts (cuts.size() == route.size() - 1, non-decreasing).
  Plan evaluate(const std::vector<size_t>& route, const std::vector<int64_t>& cuts) const;

 private:
  const PlanningProblem& problem_;
  // Per device: prefix sums of compute seconds and of MACs x joules/MAC.
  std::vector<std::vector<double>> secondsPrefix_;
  std::vector<std::vector<double>> joulesPrefix_;
  std::vector<int64_t> macsPrefix_, weightsPrefix_, kernelPrefix_;
  std::vector<int64_t> int8Prefix_;  // int8 nodes before each position (the rest are float32)
  // Sparse tables for range maxima: level k holds maxima over 2^k nodes.
  using RangeMax = std::vector<std::vector<int64_t>>;
  static RangeMax rangeMaxTable(std::vector<int64_t> values);
  static int64_t rangeMax(const RangeMax& table, int64_t begin, int64_t end);  // begin < end
  RangeMax liveMax_;       // liveBytes
  RangeMax workspaceMax_;  // workspaceBytes
};

}  // namespace cleave::planner
