// A plan push as plain data: an agent's share of one plan epoch (its stages, their graphs by
// content hash, where their inputs come from and their outputs go, and its data-plane peers),
// decoded from a wire::PlanPush with every count, length, key and tensor type checked against the
// limits of docs/protocol.md. The encoder is the inverse; the daemon, the agent, the tools and the
// tests all use this one codec.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proto/content_hash.h"
#include "proto/control.capnp.h"
#include "proto/key_files.h"
#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave::proto {

// Limits from the schema comments (control.capnp) and docs/protocol.md.
constexpr size_t MAX_PLAN_STAGES = 64;
constexpr size_t MAX_PLAN_PEERS = 64;
constexpr size_t MAX_STAGE_TENSORS = 16;  // inputs or outputs of one stage (TensorLimits::maxTensors)
constexpr size_t MAX_STAGE_ROUTES = 16;
constexpr size_t MAX_ROUTE_TENSORS = 16;
constexpr size_t MAX_NAME_BYTES = 64;  // agent and peer names
constexpr size_t MAX_ENDPOINT_BYTES = 256;
constexpr size_t MAX_MODEL_NAME_BYTES = 128;
constexpr size_t MAX_LABEL_BYTES = 64;

// Where a stage's outputs go: to `stage` on `agent`; `tensors` empty sends every output. As an
// upstream route: where inputs come from, `tensors` naming them.
struct RouteSpec {
  std::string agent;
  uint32_t stage = 0;
  std::vector<std::string> tensors;
  wire::EdgeKind kind = wire::EdgeKind::ALWAYS;
  bool operator==(const RouteSpec&) const = default;
};

// One stage this agent runs under the epoch.
struct StageSpec {
  uint32_t stage = 0;
  ContentHash graphHash{};
  uint64_t graphBytes = 0;
  std::vector<ValueInfo> inputs;   // the stage graph's inputs, in order
  std::vector<ValueInfo> outputs;  // its outputs, in order
  std::vector<RouteSpec> next;     // empty: a last stage, whose outputs return to the origin
  std::vector<RouteSpec> upstream;  // empty: the entry stage; several: inputs gathered per request
  std::vector<std::string> zeroedInputs;  // inputs no stage sends: fed as zeros
  std::string label;                      // for logs: "nodes 0-11", "student 2", "fusion", "relay"
  uint32_t channelsSent = 0;
  std::string exitOutput;  // early_exit: the exit head's output; empty: none
  float exitThreshold = 0.0f;
  double predictedSeconds = 0.0;  // the planner's compute time on this agent (for pace_compute)

  // Inputs arrive in several messages and are gathered per request.
  bool gathersInputs() const { return upstream.size() > 1 || !zeroedInputs.empty(); }
};

// A data-plane peer: admitted by ZAP, and connected to as a CURVE client.
struct PeerSpec {
  std::string name;
  CurveKey publicKey{};
  std::string dataEndpoint;
  bool operator==(const PeerSpec&) const = default;
};

struct PlanSpec {
  uint64_t epoch = 0;
  wire::Strategy strategy = wire::Strategy::SPLIT;
  std::string model;
  std::vector<StageSpec> stages;
  std::vector<PeerSpec> peers;
  RouteSpec entry;
  uint64_t abandonBefore = 0;

  const StageSpec* findStage(uint32_t stage) const;
  const PeerSpec* findPeer(std::string_view name) const;
};

// Reads and checks a push. Runs under decodeGuard, so a malformed reader gives an Error. Checks
// only what the message alone can tell (limits, types, duplicates); checkPlanFor adds the rest.
Result<PlanSpec> decodePlanPush(wire::PlanPush::Reader reader);
// The checks that need to know who receives the plan: every route and the entry name this
// agent or one of the peers, and this agent is not its own peer.
Status checkPlanFor(const PlanSpec& plan, std::string_view self);

void encodePlanPush(const PlanSpec& plan, wire::PlanPush::Builder builder);

// A tensor spec (name, dtype, static shape) in either direction.
Result<ValueInfo> decodeTensorSpec(wire::TensorSpec::Reader reader);
void encodeTensorSpec(const ValueInfo& value, wire::TensorSpec::Builder builder);

}  // namespace cleave::proto
