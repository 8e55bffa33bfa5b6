// A planner's split plan made concrete for the fleet: the stage graphs cut from the model,
// serialised and hashed, each stage's input and output types, and where its outputs go. The
// daemon turns it into one PlanPush per agent; nothing here touches a socket.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "planner/plan.h"
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
  uint32_t index = 0;       // position on the route; stage 0 runs on the source
  std::string agent;        // device name
  int64_t begin = 0, end = 0;  // nodes of the model's execution order; begin == end: relays
  proto::ContentHash hash{};   // of `bytes` in FleetPlan::graphs
  uint64_t graphBytes = 0;
  std::vector<NamedType> inputs, outputs;  // in the stage graph's order
  double predictedSeconds = 0;
  int64_t sendBytes = 0;
};

struct FleetPlan {
  uint64_t epoch = 0;
  planner::Plan plan;
  std::vector<FleetStage> stages;                  // in route order
  std::map<proto::ContentHash, std::string> graphs;  // ONNX bytes by hash
  uint64_t abandonBefore = 0;  // see PlanPush.abandonBefore
  std::string reason;          // why this plan was made, for logs and `watch`

  const std::string& origin() const { return stages.front().agent; }
  // Agents this agent exchanges data with under this plan: its route neighbours, and the
  // origin <-> every stage (results come back from the last stage, failures from any).
  std::vector<std::string> peersOf(const std::string& agent) const;
  // The stages `agent` runs (at most one for a split plan).
  std::vector<const FleetStage*> stagesOf(const std::string& agent) const;
};

// Fills an operator-facing summary of the plan (epoch 0 and installed = false for a dry run).
void fillPlanSummary(wire::PlanSummary::Builder summary, const FleetPlan& plan, bool installed);

// Cuts `graph` at the plan's cuts and prepares every stage. `deviceNames` maps the plan's
// device indices to names.
Result<FleetPlan> buildFleetPlan(const Graph& graph, const planner::Plan& plan,
                                 const std::vector<std::string>& deviceNames);

}  // namespace cleave::daemon
