// cleave-agent's event loop: one ZeroMQ context, one ZAP handler, one poll loop over the
// control socket, the data plane's sockets, the ZAP socket and the compute thread's wake-up.
// It wires the modules together and decides nothing they can decide alone:
//   control_session  hello/register/heartbeat/telemetry with the daemon
//   plan_message     what a plan push says, checked
//   graph_cache      stage graphs by content hash
//   epoch_store      the newest two accepted epochs and their loaded stages
//   compute_worker   stage runs and stage loading, off the I/O thread
//   data_plane       activations, results, acks and failures between agents
//   origin_requests  the requests this agent took from the daemon, until each completes once
//   client_socket    requests from local applications (optional), kept by origin_requests too
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <zmq.hpp>

#include "agent/client_socket.h"
#include "agent/compute_worker.h"
#include "agent/control_session.h"
#include "agent/data_plane.h"
#include "agent/epoch_store.h"
#include "agent/fan_in.h"
#include "agent/graph_cache.h"
#include "agent/origin_requests.h"
#include "config/agent_config.h"
#include "proto/secure_socket.h"

namespace cleave::agent {

// Counters of what went wrong or was repeated, logged when they change.
struct AgentCounters {
  uint64_t droppedSubmits = 0;    // malformed or duplicate submits
  uint64_t duplicateResults = 0;  // results for requests already completed
  uint64_t strayFailures = 0;     // failures for requests this agent does not hold
  uint64_t failuresReceived = 0;
  uint64_t reruns = 0;              // requests started again under a newer epoch
  uint64_t refusedConnections = 0;  // ZAP refusals on the data plane
  uint64_t refusedPlans = 0;
  uint64_t stageErrors = 0;
  uint64_t clientErrors = 0;  // local client requests answered with an error
  uint64_t computeStalls = 0; // times the compute thread stopped moving (see ComputeWorker's isStalled)
  uint64_t duplicateInputs = 0;   // a gathering stage's inputs that arrived twice (re-sent)
  uint64_t incompleteInputs = 0;  // requests whose gathered inputs never all arrived
  bool operator==(const AgentCounters&) const = default;
};

class Agent final : private ControlHandler, private DataHandler, private ClientHandler {
 public:
  // Keys, profile (declared or measured now), sockets and the compute thread.
  static Result<std::unique_ptr<Agent>> create(const config::AgentConfig& config, std::shared_ptr<spdlog::logger> log);
  ~Agent() override;

  // Runs until `stopFd` becomes readable (a signalfd for SIGTERM/SIGINT); an error when the
  // daemon refused this agent.
  Status run(int stopFd);

 private:
  struct PendingPlan {
    proto::PlanSpec plan;
    std::set<proto::ContentHash> missing;
    Clock::time_point requestedAt;
    int requests = 1;
    bool loading = false;
  };
  struct FutureMessage {
    proto::TensorMessage message;
    std::string sender;
    Clock::time_point receivedAt;
    uint64_t bytes = 0;
  };
  // A request from a local client: where its reply goes. Its inputs are in origin_.
  struct ClientRequest {
    std::string connection;
    std::string client;  // fingerprint, for logs
    uint64_t operatorId = 0;
    double timeoutSeconds = 0.0;
    Clock::time_point receivedAt;
    Clock::time_point deadline;
  };
  struct Timing {
    uint32_t runs = 0;
    double total = 0.0;
    double max = 0.0;
  };

  static constexpr std::chrono::seconds GRAPH_RETRY{5};
  // A link estimate that moved by this fraction is reported before the next interval.
  static constexpr double LINK_REPORT_CHANGE = 0.15;
  static constexpr int GRAPH_REQUESTS = 3;
  static constexpr std::chrono::seconds FUTURE_WAIT{5};
  static constexpr size_t MAX_FUTURE_MESSAGES = 1024;
  static constexpr uint64_t MAX_FUTURE_BYTES = 256ull << 20;
  // Ids of local clients' requests have the top bit set; the daemon's count up from 1, so the
  // two never collide in origin_ or on the data plane.
  static constexpr uint64_t CLIENT_ID_BIT = 1ull << 63;
  // Client requests held at once, so local clients cannot take all of origin_'s room.
  static constexpr size_t MAX_CLIENT_REQUESTS = 256;

  Agent(config::AgentConfig config, std::shared_ptr<spdlog::logger> log);

  // ControlHandler
  void onRegistered(bool again) override;
  void onPlanPush(wire::PlanPush::Reader push) override;
  void onGraphBlob(wire::GraphBlob::Reader blob, std::span<const zmq::message_t> payload) override;
  void onSubmit(wire::Submit::Reader submit, std::span<const zmq::message_t> tensorFrames) override;
  void onDaemonEpoch(uint64_t epoch) override;
  uint64_t runningEpoch() override { return epochs_.newestEpoch(); }
  uint32_t inFlight() override;
  std::string stalled() override;
  std::vector<TelemetryReport> telemetry() override;
  void onLinkShape(wire::LinkShape::Reader shape) override;

  // DataHandler
  StageLookup lookupStage(uint64_t epoch, uint32_t stage) override;
  void onActivations(proto::TensorMessage message, const std::string& sender) override;
  void onResult(proto::TensorMessage message, const std::string& sender) override;
  void onFailure(uint64_t requestId, uint64_t epoch, wire::Failure::Reason reason, const std::string& detail,
                 const std::string& sender) override;

  // ClientHandler
  void onClientInfer(ClientInfer request) override;

  // Plans
  void refusePlan(uint64_t epoch, const std::string& reason);
  void refusePending(const std::string& reason);
  void maybeStartLoad();
  void onLoadDone(LoadStagesDone done);
  void acceptPlan(proto::PlanSpec plan, std::map<uint32_t, LoadedSession> sessions);
  void checkPendingPlan(Clock::time_point now);

  // Requests
  void runDue(uint64_t abandonBefore);
  static bool isClientRequest(uint64_t id) { return (id & CLIENT_ID_BIT) != 0; }
  // The request (already taken out of origin_) failed: tell the daemon or the local client.
  void reportRequestFailed(uint64_t id, uint64_t epoch, const std::string& reason);
  void finishClientRequest(const proto::TensorMessage& result);
  void expireClientRequests(Clock::time_point now);
  std::string notOriginReason(const Epoch& epoch) const;
  void startRequest(uint64_t id, OriginRequests::Reason reason);
  void deliverActivations(const std::string& agent, proto::TensorMessage message);
  void takeActivations(proto::TensorMessage message, const std::string& sender);
  void onStageDone(StageRunDone done);
  void deliverResult(proto::TensorMessage message);
  void reportFailure(const std::string& origin, uint64_t requestId, uint64_t epoch, wire::Failure::Reason reason,
                     const std::string& detail);
  void bufferFuture(proto::TensorMessage message, const std::string& sender);
  void replayFutures();
  void expireFutures(Clock::time_point now);
  // Partial input sets of gathering stages given up on: failed back to their origins.
  void failGathered(const std::vector<FanIn::Expired>& expired, wire::Failure::Reason reason, const std::string& why);

  void handleZap();
  // ZAP admits the peers of the kept epochs and the local clients' keys (one handler serves
  // both sockets; each socket checks the sender's role itself).
  void updateAllowList();
  void logCountersIfChanged();
  Clock::time_point nextDeadline(Clock::time_point now) const;

  config::AgentConfig config_;
  std::shared_ptr<spdlog::logger> log_;
  proto::TensorLimits limits_;
  // Declaration order is destruction order reversed: the context outlives every socket, and the
  // ZAP handler outlives the data plane's server socket.
  zmq::context_t context_;
  std::optional<proto::ZapAuthenticator> zap_;
  std::unique_ptr<DataPlane> data_;
  std::unique_ptr<ClientSocket> client_;  // null without `client` in agent.toml
  std::unique_ptr<ComputeWorker> worker_;
  std::unique_ptr<ControlSession> control_;

  GraphCache graphs_;
  EpochStore epochs_;
  OriginRequests origin_;
  std::optional<PendingPlan> pending_;
  std::deque<FutureMessage> future_;
  FanIn gathered_;  // inputs of stages fed by several senders, per request until complete
  std::map<uint64_t, ClientRequest> clientRequests_;
  uint64_t nextClientId_ = 0;
  uint64_t futureBytes_ = 0;
  uint64_t highestPushSeen_ = 0;
  uint64_t reRegisteredFor_ = 0;  // the daemon epoch we last re-registered to catch up with
  std::optional<std::pair<uint64_t, Clock::time_point>> daemonAhead_;  // epoch, since when
  size_t jobsInFlight_ = 0;
  std::map<std::pair<uint64_t, uint32_t>, Timing> timings_;  // (epoch, stage)
  std::optional<Clock::time_point> stalledSince_;  // the activity's `since` when a stall was reported
  AgentCounters counters_;
  AgentCounters loggedCounters_;
  uint64_t loggedControlDropped_ = 0, loggedDataDropped_ = 0, loggedDataStalls_ = 0, loggedClientDropped_ = 0;
};

}  // namespace cleave::agent
