// What the planner is asked: a fleet, a model's costs, where inputs start and results are
// wanted, and what to minimise. Plain data in SI units.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "planner/fleet.h"

namespace cleave::planner {

enum class Strategy : uint8_t { Split, Clio, Nonn, EarlyExit, Auto };
const char* strategyName(Strategy strategy);
std::optional<Strategy> strategyFromName(const std::string& name);

// One runnable node of a graph, in execution order (from the runtime's cost report).
struct NodeCost {
  std::string name;
  OpClass opClass = OpClass::Other;
  int64_t macs = 0;
  int64_t weightBytes = 0;  // constants this node reads
  int64_t liveBytes = 0;    // activation bytes live while it runs (inputs, outputs, held values)
  int64_t kernelBytes = 0;  // RAM its kernel keeps while loaded (e.g. re-laid-out weights)
  // Working memory its kernel needs while it runs. A stage's session lends all its kernels one
  // workspace, so a stage needs the largest of its nodes', not the sum.
  int64_t workspaceBytes = 0;
  // An int8 operator (or a quantise/dequantise at the float boundary) rather than float32: only
  // devices that run int8 may take it.
  bool int8 = false;
};

// A graph's costs. A cut position p in [0, nodes.size()] sits before node p; cutBytes[p] is
// every tensor live across it (skip connections included), so cutBytes has nodes.size() + 1
// entries: cutBytes[0] is the input, cutBytes.back() the output.
struct ModelCosts {
  std::string name;
  std::vector<NodeCost> nodes;
  std::vector<int64_t> cutBytes;

  int64_t positions() const { return static_cast<int64_t>(nodes.size()); }
};

// cost = latencyWeight * seconds + energyWeight * joules. `latency` is (1, 0), `energy` (0, 1).
struct Objective {
  double latencyWeight = 1;
  double energyWeight = 0;

  static Objective latency() { return {1, 0}; }
  static Objective energy() { return {0, 1}; }
  double cost(double seconds, double joules) const { return latencyWeight * seconds + energyWeight * joules; }
  std::string describe() const;
};

struct Constraints {
  std::optional<double> latencySloSeconds;  // reported against; see docs/planner.md
  std::optional<double> accuracyFloor;      // for strategies that trade accuracy (clio, early_exit)
  // early_exit: the accuracy may fall at most this far below the bundle's last block answering
  // every request, on the same held-out inputs (see earlyExitAccuracyFloor). Unlike a fixed
  // floor it keeps holding where deployment data is harder than the held-out data: the cascade
  // and the last block get harder together.
  std::optional<double> accuracyDrop;
};

// A nonn bundle (Network-of-Neural-Networks): K students that each read the request's input
// and send a small feature vector to one fusion graph, which produces the result.
struct NonnStudent {
  ModelCosts graph;             // cutBytes.front(): the input it reads; back(): its features
  std::string features;         // the name of its output tensor
  double accuracyWithout = 0;   // the fused accuracy with this student's features zeroed
};

struct NonnModel {
  std::string input;   // the name of the input every student reads
  std::string output;  // the name of the fusion's result
  std::vector<NonnStudent> students;
  ModelCosts fusion;  // cutBytes.front(): every student's features; back(): the result
  double accuracy = 0;  // with every student
};

// How an early_exit bundle's exits behave on held-out data, for every combination of the
// candidate thresholds of the exits before the last (exits form a cascade, so how many finish
// at exit 1 depends on exit 0's threshold). A request finishes at the first exit whose
// confidence (max softmax) is at least its threshold; the last exit takes the rest.
struct ExitStatistics {
  std::vector<std::vector<double>> candidates;  // per exit but the last, ascending
  // Per combination, row-major (the first exit's candidate index most significant): how many
  // held-out inputs finished at each exit, and how many of those were classified right.
  std::vector<std::vector<int64_t>> exited, correct;
  int64_t samples = 0;

  size_t combinations() const;
  size_t row(const std::vector<size_t>& choice) const;
  std::vector<size_t> choice(size_t row) const;
  // Over every exit, for one row.
  int64_t correctTotal(size_t row) const;
  // A row where every input reaches the last block (thresholds that never exit), if any.
  std::optional<size_t> lastBlockOnlyRow() const;
};

// The one-sided 95% lower confidence bound on an accuracy measured as `correct` of `samples`
// (Wilson's score interval, z = 1.645): what the planner holds against an accuracy floor, so a
// threshold that merely got lucky on the held-out set does not pass.
double accuracyLowerBound(int64_t correct, int64_t samples);

// An early_exit bundle: blocks that run in order, each ending in an exit head that outputs class
// scores (the last block's head is the final classifier). A block reads what earlier blocks
// wrote or the request's input; whatever later blocks still need travels block to block.
struct EarlyExitBlock {
  ModelCosts graph;                   // the block and its exit head
  std::string exit;                   // the exit head's output: a request that finishes here sends it
  int64_t exitBytes = 0;
  std::vector<std::string> receives;  // what the stage before sends it (block 0: the request's input)
  int64_t receiveBytes = 0;
};

struct EarlyExitModel {
  std::vector<EarlyExitBlock> blocks;
  ExitStatistics statistics;
};

struct PlanningProblem {
  Fleet fleet;
  ModelCosts model;  // the split bundle's graph
  std::optional<NonnModel> nonn;  // the nonn bundle's graphs, when the bundle folder has one
  std::optional<EarlyExitModel> earlyExit;  // the early_exit bundle's blocks and exit statistics
  size_t source = 0;  // device where inputs are produced
  size_t sink = 0;    // device that wants the results
  Objective objective;
  Constraints constraints;
};

}  // namespace cleave::planner
