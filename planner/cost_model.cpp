#include "planner/cost_model.h"

#include <algorithm>
#include <bit>

namespace cleave::planner {

CostModel::CostModel(const PlanningProblem& problem) : problem_(problem) {
  const std::vector<NodeCost>& nodes = problem.model.nodes;
  size_t count = nodes.size();
  for (const DeviceProfile& device : problem.fleet.devices) {
    std::vector<double> seconds(count + 1, 0), joules(count + 1, 0);
    for (size_t i = 0; i < count; ++i) {
      double macs = static_cast<double>(nodes[i].macs);
      seconds[i + 1] = seconds[i] + macs / device.rate(nodes[i].opClass) + device.nodeOverheadSeconds;
      joules[i + 1] = joules[i] + macs * device.joulesPerMac;
    }
    secondsPrefix_.push_back(std::move(seconds));
    joulesPrefix_.push_back(std::move(joules));
  }
  macsPrefix_.assign(count + 1, 0);
  weightsPrefix_.assign(count + 1, 0);
  kernelPrefix_.assign(count + 1, 0);
  int8Prefix_.assign(count + 1, 0);
  for (size_t i = 0; i < count; ++i) {
    int8Prefix_[i + 1] = int8Prefix_[i] + (nodes[i].int8 ? 1 : 0);
    macsPrefix_[i + 1] = macsPrefix_[i] + nodes[i].macs;
    weightsPrefix_[i + 1] = weightsPrefix_[i] + nodes[i].weightBytes;
    kernelPrefix_[i + 1] = kernelPrefix_[i] + nodes[i].kernelBytes;
  }
  std::vector<int64_t> live(count), workspace(count);
  for (size_t i = 0; i < count; ++i) {
    live[i] = nodes[i].liveBytes;
    workspace[i] = nodes[i].workspaceBytes;
  }
  liveMax_ = rangeMaxTable(std::move(live));
  workspaceMax_ = rangeMaxTable(std::move(workspace));
}

CostModel::RangeMax CostModel::rangeMaxTable(std::vector<int64_t> values) {
  RangeMax table;
  const size_t count = values.size();
  table.push_back(std::move(values));
  for (size_t width = 1; 2 * width <= count; width *= 2) {
    const std::vector<int64_t>& prev = table.back();
    std::vector<int64_t> next(count - 2 * width + 1);
    for (size_t i = 0; i < next.size(); ++i) next[i] = std::max(prev[i], prev[i + width]);
    table.push_back(std::move(next));
  }
  return table;
}

int64_t CostModel::rangeMax(const RangeMax& table, int64_t begin, int64_t end) {
  size_t length = static_cast<size_t>(end - begin);
  size_t level = static_cast<size_t>(std::bit_width(length) - 1);
  size_t width = size_t{1} << level;
  const std::vector<int64_t>& row = table[level];
  return std::max(row[static_cast<size_t>(begin)], row[static_cast<size_t>(end) - width]);
}

double CostModel::computeSeconds(size_t device, int64_t begin, int64_t end) const {
  return secondsPrefix_[device][static_cast<size_t>(end)] - secondsPrefix_[device][static_cast<size_t>(begin)];
}

double CostModel::computeJoules(size_t device, int64_t begin, int64_t end) const {
  return joulesPrefix_[device][static_cast<size_t>(end)] - joulesPrefix_[device][static_cast<size_t>(begin)];
}

int64_t CostModel::macs(int64_t begin, int64_t end) const {
  return macsPrefix_[static_cast<size_t>(end)] - macsPrefix_[static_cast<size_t>(begin)];
}

int64_t CostModel::weightBytes(int64_t begin, int64_t end) const {
  return weightsPrefix_[static_cast<size_t>(end)] - weightsPrefix_[static_cast<size_t>(begin)];
}

int64_t CostModel::peakBytes(int64_t begin, int64_t end) const {
  if (begin == end) return problem_.model.cutBytes[static_cast<size_t>(begin)];
  return rangeMax(liveMax_, begin, end);
}

MemoryShortfall CostModel::memory(size_t device, int64_t begin, int64_t end) const {
  const DeviceProfile& profile = problem_.fleet.devices[device];
  MemoryShortfall m;
  m.weightBytes = weightBytes(begin, end);
  m.activationBytes = peakBytes(begin, end);
  // Every node's held bytes, and the one workspace the stage's session lends its kernels.
  m.kernelBytes = kernelPrefix_[static_cast<size_t>(end)] - kernelPrefix_[static_cast<size_t>(begin)] +
                  (begin < end ? rangeMax(workspaceMax_, begin, end) : 0);
  m.ramAvailable = profile.ramBytes;
  if (profile.flashBytes) {
    m.flashNeeded = m.weightBytes;
    m.flashAvailable = *profile.flashBytes;
    m.ramNeeded = m.activationBytes + m.kernelBytes;
  } else {
    m.ramNeeded = m.weightBytes + m.activationBytes + m.kernelBytes;
  }
  const int64_t int8Nodes = int8Prefix_[static_cast<size_t>(end)] - int8Prefix_[static_cast<size_t>(begin)];
  if (int8Nodes > 0 && !profile.runsInt8) m.missingPrecision = "int8";
  if (end - begin > int8Nodes && !profile.runsFloat32) m.missingPrecision = "float32";
  return m;
}

double CostModel::transferSeconds(size_t from, size_t to, int64_t position) const {
  const Link* link = problem_.fleet.linkBetween(from, to);
  double bytes = static_cast<double>(problem_.model.cutBytes[static_cast<size_t>(position)]);
  return link->rttSeconds / 2 + bytes / problem_.fleet.bytesPerSecond(from, to);
}

double CostModel::transferJoules(size_t from, int64_t position) const {
  return static_cast<double>(problem_.model.cutBytes[static_cast<size_t>(position)]) *
         problem_.fleet.devices[from].radioJoulesPerByte;
}

double CostModel::stageCost(size_t device, int64_t begin, int64_t end) const {
  return problem_.objective.cost(computeSeconds(device, begin, end), computeJoules(device, begin, end));
}

double CostModel::hopCost(size_t from, size_t to, int64_t position) const {
  return problem_.objective.cost(transferSeconds(from, to, position), transferJoules(from, position));
}

Plan CostModel::evaluate(const std::vector<size_t>& route, const std::vector<int64_t>& cuts) const {
  Plan plan;
  plan.strategy = Strategy::Split;
  for (size_t i = 0; i < route.size(); ++i) {
    StagePlan stage;
    stage.device = route[i];
    stage.begin = i == 0 ? 0 : cuts[i - 1];
    stage.end = i + 1 == route.size() ? positions() : cuts[i];
    stage.macs = macs(stage.begin, stage.end);
    stage.computeSeconds = computeSeconds(stage.device, stage.begin, stage.end);
    stage.computeJoules = computeJoules(stage.device, stage.begin, stage.end);
    stage.weightBytes = weightBytes(stage.begin, stage.end);
    stage.peakBytes = peakBytes(stage.begin, stage.end);
    if (i + 1 < route.size()) {
      stage.sendBytes = problem_.model.cutBytes[static_cast<size_t>(stage.end)];
      stage.transferSeconds = transferSeconds(stage.device, route[i + 1], stage.end);
      stage.radioJoules = transferJoules(stage.device, stage.end);
    }
    plan.latencySeconds += stage.computeSeconds + stage.transferSeconds;
    plan.energyJoules += stage.computeJoules + stage.radioJoules;
    plan.cost += stageCost(stage.device, stage.begin, stage.end) +
                 (i + 1 < route.size() ? hopCost(stage.device, route[i + 1], stage.end) : 0.0);
    plan.stages.push_back(stage);
  }
  return plan;
}

}  // namespace cleave::planner
