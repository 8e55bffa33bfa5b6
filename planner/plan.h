// A plan: which device runs which nodes of which graph, where each stage's outputs go, and what
// that is predicted to cost.
//
// A plan is a graph of stages. A `split` plan is a path: stage i sends the tensors live across
// its end to stage i + 1, and the figures of that hop live on the stage (StagePlan::sendBytes
// and after), `edges` staying empty. Other strategies fan out and in: their hops are `edges`.
// Either way stage 0 runs on the source (where requests enter) and the one stage without a
// successor on the sink.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "planner/problem.h"

namespace cleave::planner {

// Which of the bundle's graphs a stage runs. Relay: none; the stage forwards what it receives
// (the request's input from the source, a result to the sink). Block: an early_exit block.
enum class StageGraph : uint8_t { Model, Student, Fusion, Relay, Block };
const char* stageGraphName(StageGraph graph);

// One device's share of a plan: nodes [begin, end) of one graph (empty when begin == end: the
// device only relays). In a split plan, then the tensors live across `end` sent to the next
// device on the route.
struct StagePlan {
  size_t device = 0;
  StageGraph graph = StageGraph::Model;
  uint32_t graphIndex = 0;  // Student, Block: which one
  int64_t begin = 0, end = 0;
  int64_t macs = 0;
  double computeSeconds = 0;
  double computeJoules = 0;
  int64_t weightBytes = 0;
  int64_t peakBytes = 0;       // activation bytes at the stage's worst step (relayed bytes when empty)
  int64_t sendBytes = 0;       // split: to the next device; 0 for the last stage
  double transferSeconds = 0;  // split: RTT/2 + bytes / bandwidth of that hop
  double radioJoules = 0;      // split: sender's radio energy for those bytes
};

// How an edge decides whether a request's tensors travel it.
enum class EdgeKind : uint8_t {
  Always,         // every request
  UnlessExited,   // early_exit: only requests the sending stage's exit head did not finish
  ChannelPrefix,  // clio: a prefix of the channels, in slices, until the receiver's deadline
};

// Named tensors from one stage to another (fan-out: several edges leave a stage; fan-in: the
// receiving stage runs once every edge into it has delivered).
struct PlanEdge {
  size_t from = 0, to = 0;           // stage indices
  EdgeKind kind = EdgeKind::Always;
  std::vector<std::string> tensors;  // what travels, by the graphs' tensor names
  int64_t bytes = 0;
  double transferSeconds = 0;  // RTT/2 + bytes / bandwidth; 0 between stages on one device
  double radioJoules = 0;      // the sender's radio energy; 0 on one device
};

struct Plan {
  Strategy strategy = Strategy::Split;
  // split: in route order, stages.front() on the source, back() on the sink. Otherwise stage 0
  // on the source, then in an order where every edge goes forward.
  std::vector<StagePlan> stages;
  std::vector<PlanEdge> edges;  // empty for a split plan (a path)
  // nonn: students no device could take; the fusion runs with their features zeroed.
  std::vector<uint32_t> missingStudents;
  // early_exit: the threshold chosen for each exit but the last (an index into the statistics'
  // candidates, and its value), and the expected fraction of requests finishing at each block.
  std::vector<size_t> exitChoice;
  std::vector<double> exitThresholds;
  std::vector<double> exitFractions;
  // One request, end to end: the critical path (early_exit: the mean over where requests finish).
  double latencySeconds = 0;
  double energyJoules = 0;    // every stage and every transfer (early_exit: the mean)
  double cost = 0;            // the objective's value
  double accuracy = 0;        // expected accuracy where the strategy trades it; 0: not known

  bool isPath() const { return edges.empty(); }

  // split: the route's device indices and the cut positions between consecutive stages.
  std::vector<size_t> route() const;
  std::vector<int64_t> cuts() const;
  // The same stages on the same devices, sending along the same edges: the same assignment of
  // nodes to devices.
  bool sameAssignment(const Plan& other) const;
};

// Whether `a` is to be preferred to `b` (plans of one problem). Of nonn: it leaves fewer of the
// bundle's students out, then expects a higher accuracy, then costs less (cost alone would keep
// a plan that drops a student because the dropped one was the slowest). Otherwise, and between
// strategies: a plan that leaves nothing out beats one that does, then the cheaper one, as
// `auto` decides (early_exit trades accuracy for cost only down to the floor, by design).
bool preferable(const Plan& a, const Plan& b);

}  // namespace cleave::planner
