// A planner's plan made concrete for the fleet: each stage's graph (a range cut from the model,
// a nonn student, the fusion, an early-exit block, or a relay), serialised and hashed, its input and output types,
// where its inputs come from and where its outputs go. The daemon turns it into one PlanPush per
// agent; nothing here touches a socket.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/bundle.h"
#include "planner/plan.h"
#include "proto/plan_codec.h"
#include "proto/control.capnp.h"
#include "proto/content_hash.h"
#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave::daemon {

struct NamedType {
  std::string name;
  TensorType type;
};

struct FleetStage {
  uint32_t index = 0;       // the plan's stage index; stage 0 runs on the source
  std::string agent;        // device name
  std::string label;        // what it runs: "nodes 0-11", "student 2", "fusion", "block 1", "relay"
  int64_t begin = 0, end = 0;  // nodes of its graph's execution order; begin == end: relays
  proto::ContentHash hash{};   // of `bytes` in FleetPlan::graphs
  uint64_t graphBytes = 0;
  std::vector<NamedType> inputs, outputs;  // in the stage graph's order
  double predictedSeconds = 0;
  int64_t sendBytes = 0;
  std::vector<proto::RouteSpec> next;      // empty: the last stage (its outputs are the result)
  std::vector<proto::RouteSpec> upstream;  // empty: the entry stage
  std::vector<std::string> zeroedInputs;   // inputs no stage sends under this plan: fed as zeros
  std::string exitOutput;                  // early_exit: the block's exit head; empty: none
  double exitThreshold = 0;                // early_exit: confidence that ends a request here
};

struct FleetPlan {
  uint64_t epoch = 0;
  planner::Plan plan;
  std::vector<std::string> names;  // the plan's device indices -> device names
  std::vector<FleetStage> stages;                  // by index; a split plan's in route order
  std::map<proto::ContentHash, std::string> graphs;  // ONNX bytes by hash
  uint64_t abandonBefore = 0;  // see PlanPush.abandonBefore
  std::string reason;          // why this plan was made, for logs and `watch`
  double replacedPredictedSeconds = 0;  // links moved: the replaced plan re-costed under the new figures

  const std::string& origin() const { return stages.front().agent; }
  // Agents this agent exchanges data with under this plan: both ends of every route it is on,
  // and the origin <-> every stage (results come back from the last stage, failures from any).
  std::vector<std::string> peersOf(const std::string& agent) const;
  // The stages `agent` runs (at most one for a split plan).
  std::vector<const FleetStage*> stagesOf(const std::string& agent) const;
};

wire::Strategy wireStrategy(planner::Strategy strategy);

// Fills an operator-facing summary of the plan (epoch 0 and installed = false for a dry run).
void fillPlanSummary(wire::PlanSummary::Builder summary, const FleetPlan& plan, bool installed);

// Cuts `graph` at the plan's cuts and prepares every stage of a split plan. `deviceNames` maps
// the plan's device indices to names.
Result<FleetPlan> buildFleetPlan(const Graph& graph, const planner::Plan& plan,
                                 const std::vector<std::string>& deviceNames);
// Any plan of the bundle: split plans as above, stage graphs with the bundle's graphs.
Result<FleetPlan> buildFleetPlan(const config::ModelBundle& bundle, const planner::Plan& plan,
                                 const std::vector<std::string>& deviceNames);

// The PlanPush `agent` gets: its stages, its peers' names (the caller adds keys and endpoints),
// and where requests enter.
proto::PlanSpec planSpecFor(const FleetPlan& plan, const std::string& agent, const std::string& model);

}  // namespace cleave::daemon
