// cleaved's core: one poll loop over the control socket (agents), the operator socket
// (cleavectl) and the ZAP handler; the registry of agents; planning for whoever is online; plan
// distribution by epoch; and requests relayed from operators to the origin agent and back.
// Messages are handled by one switch over the Cap'n Proto union with a short handleX per case.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "config/fleet_config.h"
#include "daemon/agent_registry.h"
#include "daemon/fleet_plan.h"
#include "daemon/link_table.h"
#include "planner/plan_switch.h"
#include "proto/control.capnp.h"
#include "proto/key_files.h"
#include "proto/secure_socket.h"
#include "proto/tensor_frame.h"

namespace cleave::daemon {

struct DaemonOptions {
  std::string configPath;
  std::string keysDir;           // overrides [fleet] keys when set
  std::string controlEndpoint;   // overrides [fleet] daemon when set
  std::string operatorEndpoint;  // overrides [fleet] operator_endpoint when set
  std::string endpointsFile;     // written once both sockets are bound
  std::string modelOverride;     // a bundle or .onnx instead of [model] bundle
};

// Counters reported by `status`.
struct DaemonCounters {
  uint64_t requests = 0, results = 0, failed = 0, drops = 0, replans = 0, badMessages = 0;
};

class Daemon {
 public:
  static Result<std::unique_ptr<Daemon>> create(const DaemonOptions& options);
  ~Daemon();

  // Serves until `stop` becomes true (checked at least every heartbeat interval).
  void run(const std::atomic<bool>& stop);

  const DaemonCounters& counters() const { return counters_; }

 private:
  struct PendingInfer {  // an operator's infer, relayed to the origin agent
    std::string operatorId;
    uint64_t operatorRequestId = 0;
    Clock::time_point started;
    Clock::time_point deadline;
    std::vector<proto::WireTensor> inputs;
    bool submitted = false;
  };
  struct Watcher {
    std::string operatorId;
    uint64_t requestId = 0;
    bool telemetry = true, plans = true, agents = true;
  };
  using Frames = std::vector<zmq::message_t>;

  Daemon() = default;
  Status bind(const DaemonOptions& options);

  // [routing id, control message, tensor frames...] -> the decoded message; nullopt (counted)
  // when the frame count or the message is bad.
  std::optional<proto::DecodedMessage> decodeFrames(const Frames& frames);
  // One message from each socket.
  void onControl(Frames& frames);
  void onOperator(Frames& frames);
  void onTimers();

  // Control plane (agents).
  void handleHello(const std::string& id, wire::Hello::Reader hello, bool operatorSocket);
  void handleRegister(const std::string& id, wire::Register::Reader reg, const std::string& userId);
  void handleHeartbeat(AgentRecord& agent, wire::Heartbeat::Reader heartbeat);
  void handleTelemetry(AgentRecord& agent, wire::Telemetry::Reader telemetry);
  void handlePlanAck(AgentRecord& agent, wire::PlanAck::Reader ack);
  void handleGraphRequest(AgentRecord& agent, wire::GraphRequest::Reader request);
  void handleCompleted(AgentRecord& agent, wire::Completed::Reader completed, std::span<zmq::message_t> tensorFrames);

  // Operator API.
  void handleOperatorRequest(const std::string& id, wire::OperatorRequest::Reader request,
                             std::span<zmq::message_t> tensorFrames);
  void replyStatus(const std::string& id, uint64_t requestId);
  void replyAgents(const std::string& id, uint64_t requestId);
  void replyPlan(const std::string& id, uint64_t requestId, const FleetPlan* plan, bool installed);
  void handlePlanApply(const std::string& id, uint64_t requestId, wire::PlanApply::Reader apply);
  void handleInfer(const std::string& id, uint64_t requestId, wire::Infer::Reader infer,
                   std::span<zmq::message_t> tensorFrames);
  void handleLinkSet(const std::string& id, uint64_t requestId, wire::LinkSet::Reader linkSet);

  // Link adaptation (link_adaptation.cpp): estimates from telemetry, pins from operators, and
  // re-planning with hysteresis when they move.
  void takeLinkEstimates(const AgentRecord& agent, capnp::List<wire::LinkEstimate>::Reader estimates);
  // Adopts the planner's best plan under the current figures if it beats the current plan by the
  // hysteresis margin: for its hold time (telemetry), or at once (`operatorAsked`, which also
  // overrides [planner] adapt = false).
  void adaptToLinks(bool operatorAsked = false);
  void replyError(const std::string& id, uint64_t requestId, const std::string& message);

  // Planning and plan distribution.
  // Agents the planner may use: online, and their compute moving.
  std::set<std::string> onlineAgents() const;
  // True when `agent` holds stages of the current plan, or of the one it replaced less than the
  // origins' re-run time ago: losing it loses requests, so the next plan abandons older epochs.
  bool mayHoldRequests(const std::string& agent) const;
  // The topology's problem with the registered profiles and the effective link figures.
  planner::PlanningProblem problemNow() const;
  void replan(const std::string& reason, bool agentLost, bool force);
  // previousPredictedSeconds: the replaced plan's cost under the estimates that replaced it.
  void install(FleetPlan plan, double previousPredictedSeconds = 0.0);
  void pushPlan(const FleetPlan& plan, const AgentRecord& agent);
  void markDown(AgentRecord& agent, const std::string& why);
  void dispatchPending();
  void finishInfer(uint64_t requestId, const std::string& failure, uint64_t epoch, double seconds,
                   const std::vector<std::string>& zeroedInputs = {});

  // Watch events.
  void broadcast(const std::function<void(wire::WatchEvent::Builder)>& fill, bool plans, bool agents, bool telemetry);
  void reportRefusals();

  // False when the peer is gone (the operator socket is ROUTER_MANDATORY) or the send failed.
  bool send(zmq::socket_t& socket, const std::string& id, capnp::MessageBuilder& message, Frames extra = {});

  config::FleetConfig config_;
  std::string keysDir_;
  proto::CurveKeyPair daemonKeys_;
  std::set<std::string> operatorKeys_;  // Z85

  zmq::context_t context_;
  std::optional<proto::ZapAuthenticator> zap_;
  zmq::socket_t control_, operator_;

  AgentRegistry registry_;
  std::set<std::string> helloedControl_, helloedOperators_;  // routing ids that passed hello
  std::optional<FleetPlan> current_, previous_;
  Clock::time_point currentSince_{};  // when current_ was installed
  uint64_t epoch_ = 0;
  bool replanWanted_ = false;
  std::string replanReason_;
  bool replanAgentLost_ = false;
  LinkTable links_{planner::Fleet{}};
  LinkSnapshot planLinks_;  // effective bandwidths when the current plan was installed
  planner::PlanSwitch switch_{0.1, 0.25};
  bool adaptDue_ = false;

  uint64_t nextRequestId_ = 0;
  std::map<uint64_t, PendingInfer> pending_;
  std::vector<Watcher> watchers_;
  proto::TensorLimits limits_;
  DaemonCounters counters_;
  Clock::time_point started_ = Clock::now();
};

}  // namespace cleave::daemon
