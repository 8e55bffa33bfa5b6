// Random planning problems for the planner's property tests and benchmarks: a random DAG of
// nodes (a chain plus skip connections) whose cut bytes and live bytes are derived from the
// edges, and a random fleet with a source-to-sink chain plus extra links. Header-only, test and
// bench use only.
#pragma once

#include <algorithm>
#include <random>
#include <vector>

#include <fmt/format.h>

#include "planner/problem.h"

namespace cleave::planner::testing {

struct RandomProblemOptions {
  int minNodes = 1, maxNodes = 12;
  int minDevices = 2, maxDevices = 4;
  double skipProbability = 0.3;   // a node also reads an earlier node's output
  double extraLinkProbability = 0.3;  // links beyond the source-to-sink chain
  double memoryTightness = 1.0;   // lower = tighter memory limits
  // When > 0: each node is int8 with this probability, and each device runs only int8, only
  // float32 or both (a third each). 0 draws nothing, so older seeds give the problems they did.
  double int8Probability = 0.0;
};

// Costs of a random DAG. Every value is read by a later node or is the graph output, so the
// byte counts follow the same liveness rule as the runtime's (live from producer to last reader).
inline ModelCosts randomModel(std::mt19937_64& rng, int nodes, double skipProbability) {
  std::uniform_int_distribution<int64_t> bytes(1, 4000), weights(0, 6000), macs(0, 2'000'000);
  std::uniform_int_distribution<int> opClass(0, static_cast<int>(OP_CLASS_COUNT) - 1);
  std::bernoulli_distribution skip(skipProbability);
  // Value v = -1 is the graph input; value i >= 0 is node i's output.
  std::vector<int64_t> valueBytes(static_cast<size_t>(nodes) + 1);
  std::vector<int> lastUse(static_cast<size_t>(nodes) + 1, -1);
  for (int64_t& b : valueBytes) b = bytes(rng);
  auto slot = [](int v) { return static_cast<size_t>(v + 1); };
  for (int i = 0; i < nodes; ++i) {
    lastUse[slot(i - 1)] = i;  // the chain edge
    if (i >= 1 && skip(rng)) {
      int from = std::uniform_int_distribution<int>(-1, i - 2)(rng);
      lastUse[slot(from)] = std::max(lastUse[slot(from)], i);
    }
  }
  lastUse[slot(nodes - 1)] = nodes;  // the graph output is read at the end
  ModelCosts model;
  model.name = "random";
  for (int p = 0; p <= nodes; ++p) {
    int64_t crossing = 0;
    for (int v = -1; v < nodes; ++v)
      if (v < p && lastUse[slot(v)] >= p) crossing += valueBytes[slot(v)];
    model.cutBytes.push_back(crossing);
  }
  for (int i = 0; i < nodes; ++i) {
    NodeCost node;
    node.name = fmt::format("n{}", i);
    node.opClass = static_cast<OpClass>(opClass(rng));
    node.macs = macs(rng);
    node.weightBytes = weights(rng);
    if (std::bernoulli_distribution(0.2)(rng)) node.kernelBytes = weights(rng);  // a Winograd-like layer
    if (std::bernoulli_distribution(0.3)(rng)) node.workspaceBytes = bytes(rng);  // im2col columns
    for (int v = -1; v <= i; ++v)
      if (lastUse[slot(v)] >= i) node.liveBytes += valueBytes[slot(v)];
    model.nodes.push_back(node);
  }
  return model;
}

inline PlanningProblem randomProblem(std::mt19937_64& rng, const RandomProblemOptions& options = {}) {
  PlanningProblem problem;
  int nodes = std::uniform_int_distribution<int>(options.minNodes, options.maxNodes)(rng);
  problem.model = randomModel(rng, nodes, options.skipProbability);
  int devices = std::uniform_int_distribution<int>(options.minDevices, options.maxDevices)(rng);

  int64_t totalWeights = 0, maxLive = 0;
  for (const NodeCost& n : problem.model.nodes) {
    totalWeights += n.weightBytes;
    maxLive = std::max(maxLive, n.liveBytes);
  }
  auto logUniform = [&](double low, double high) {
    return std::exp(std::uniform_real_distribution<double>(std::log(low), std::log(high))(rng));
  };
  std::uniform_real_distribution<double> fraction(0.2, 1.3);
  std::bernoulli_distribution coin(0.5);
  for (int d = 0; d < devices; ++d) {
    DeviceProfile device;
    device.name = fmt::format("d{}", d);
    device.kind = "random";
    for (double& rate : device.macsPerSecond) rate = logUniform(1e6, 1e10);
    device.nodeOverheadSeconds = logUniform(1e-7, 1e-3);
    double tight = options.memoryTightness * fraction(rng);
    if (coin(rng)) {
      device.flashBytes = static_cast<int64_t>(tight * static_cast<double>(totalWeights)) + 1;
      device.ramBytes = static_cast<int64_t>(options.memoryTightness * fraction(rng) * static_cast<double>(maxLive) * 1.5) + 1;
    } else {
      device.ramBytes = static_cast<int64_t>(tight * static_cast<double>(totalWeights + maxLive)) + 1;
    }
    device.joulesPerMac = logUniform(1e-12, 1e-9);
    device.radioJoulesPerByte = logUniform(1e-9, 1e-5);
    problem.fleet.devices.push_back(device);
  }
  auto addLink = [&](int a, int b) {
    problem.fleet.links.push_back({static_cast<size_t>(a), static_cast<size_t>(b), logUniform(1e3, 1e8),
                                   logUniform(1e3, 1e8), logUniform(1e-5, 0.1)});
  };
  for (int d = 0; d + 1 < devices; ++d) addLink(d, d + 1);
  std::bernoulli_distribution extra(options.extraLinkProbability);
  for (int a = 0; a < devices; ++a)
    for (int b = a + 2; b < devices; ++b)
      if (extra(rng)) addLink(a, b);
  if (options.int8Probability > 0) {
    std::bernoulli_distribution int8(options.int8Probability);
    for (NodeCost& node : problem.model.nodes) node.int8 = int8(rng);
    for (DeviceProfile& device : problem.fleet.devices) {
      const int kind = std::uniform_int_distribution<int>(0, 2)(rng);
      device.runsFloat32 = kind != 0;
      device.runsInt8 = kind != 1;
    }
  }
  problem.source = 0;
  problem.sink = static_cast<size_t>(devices - 1);
  switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
    case 0: problem.objective = Objective::latency(); break;
    case 1: problem.objective = Objective::energy(); break;
    default: problem.objective = {1.0, logUniform(0.1, 100)}; break;
  }
  return problem;
}

}  // namespace cleave::planner::testing
