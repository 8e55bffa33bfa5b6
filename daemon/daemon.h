// cleaved's core: one poll loop that wires the daemon's parts together, the way the agent's
// event loop does, and decides nothing they can decide alone:
//   control_server     the CURVE sockets (agents, operators), ZAP, hellos, decoding
//   agent_registry     the topology's agents: keys, profiles, liveness
//   plan_keeper        which plan runs, re-planning when the fleet or its links change (pure)
//   plan_distribution  plan pushes, stage graphs by hash, plan acks
//   request_relay      operators' infer requests to the origin agent and results back
//   watchers           `cleavectl watch` streams
// This class keeps the agents' membership (register, heartbeats, telemetry; daemon.cpp) and
// answers operators (operator_api.cpp).
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "config/fleet_config.h"
#include "daemon/agent_registry.h"
#include "daemon/control_server.h"
#include "daemon/daemon_counters.h"
#include "daemon/fleet_plan.h"
#include "daemon/plan_distribution.h"
#include "daemon/plan_keeper.h"
#include "daemon/request_relay.h"
#include "daemon/watchers.h"
#include "proto/key_files.h"

namespace cleave::daemon {

struct DaemonOptions {
  std::string configPath;
  std::string keysDir;           // overrides [fleet] keys when set
  std::string controlEndpoint;   // overrides [fleet] daemon when set
  std::string operatorEndpoint;  // overrides [fleet] operator_endpoint when set
  std::string endpointsFile;     // written once both sockets are bound
  std::string modelOverride;     // a bundle or .onnx instead of [model] bundle
};

class Daemon final : private ServerHandler {
 public:
  static Result<std::unique_ptr<Daemon>> create(const DaemonOptions& options);
  ~Daemon() override;

  // Serves until `stop` becomes true (checked at least every heartbeat interval).
  void run(const std::atomic<bool>& stop);

  const DaemonCounters& counters() const { return counters_; }

 private:
  Daemon(config::FleetConfig config, AgentRegistry registry, std::unique_ptr<ControlServer> server);

  // ServerHandler
  Status onAgentMessage(const std::string& routingId, const std::string& userId, wire::ControlMessage::Reader message,
                        std::span<zmq::message_t> tensorFrames) override;
  void onOperatorRequest(const std::string& operatorId, wire::OperatorRequest::Reader request,
                         std::span<zmq::message_t> tensorFrames) override;
  void onRefusal(const proto::ZapRefusal& refusal) override;

  // Agents' membership (daemon.cpp).
  void handleRegister(const std::string& routingId, wire::Register::Reader reg, const std::string& userId);
  void handleHeartbeat(AgentRecord& agent, wire::Heartbeat::Reader heartbeat);
  void handleTelemetry(AgentRecord& agent, wire::Telemetry::Reader telemetry);
  void markDown(AgentRecord& agent, const std::string& why);
  void onPlanInstalled(const FleetPlan& plan);
  void onTimers();
  void dispatch();

  // Operator API (operator_api.cpp).
  void replyStatus(const std::string& id, uint64_t requestId);
  void replyAgents(const std::string& id, uint64_t requestId);
  void replyPlan(const std::string& id, uint64_t requestId, const FleetPlan& plan, bool installed);
  void handlePlanApply(const std::string& id, uint64_t requestId, wire::PlanApply::Reader apply);
  void handleReplan(const std::string& id, uint64_t requestId, wire::Replan::Reader replan);
  void handleLinkSet(const std::string& id, uint64_t requestId, wire::LinkSet::Reader linkSet);
  void replyDone(const std::string& id, uint64_t requestId);

  config::FleetConfig config_;
  DaemonCounters counters_;
  AgentRegistry registry_;
  std::unique_ptr<ControlServer> server_;
  Watchers watchers_;
  PlanDistribution distribution_;
  RequestRelay relay_;
  PlanKeeper keeper_;
};

}  // namespace cleave::daemon
