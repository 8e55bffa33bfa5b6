// The agent's side of the control plane: a CURVE DEALER to the daemon and the session on it —
// hello, register, heartbeats, telemetry — plus the senders for plan acks, graph requests and
// completed requests. Received messages go through one switch over the ControlMessage union
// with a short handleX per case; kinds an agent does not take are answered `unimplemented`.
// Plan pushes, graph blobs and submits are handed to the ControlHandler (the agent).
//
// Liveness: the daemon answers every heartbeat, so 3 s without a word from it means it is gone
// or restarted: the session rebuilds its socket and says hello and registers again.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "planner/fleet.h"
#include "proto/content_hash.h"
#include "proto/control.capnp.h"
#include "proto/key_files.h"
#include "proto/tensor_frame.h"
#include "runtime/result.h"

namespace cleave::agent {

using Clock = std::chrono::steady_clock;

struct StageTimingReport {
  uint32_t stage = 0;
  uint32_t runs = 0;
  double meanSeconds = 0.0;
  double maxSeconds = 0.0;
};

// The estimate of one outgoing link.
struct LinkReport {
  std::string peer;
  double bytesPerSecond = 0.0;
  double rttSeconds = 0.0;
  uint32_t samples = 0;
  bool probe = false;  // the latest samples came from active probes
};

// One telemetry message: the timings of one epoch's stages since the previous report, and (in
// the first report of a batch) the link estimates.
struct TelemetryReport {
  uint64_t epoch = 0;
  std::vector<StageTimingReport> stages;
  uint32_t queueDepth = 0;
  std::vector<LinkReport> links;
};

// What the session needs from, and hands to, the agent.
class ControlHandler {
 public:
  virtual ~ControlHandler() = default;
  // Registration accepted; `again` when this is not the first registration of this process.
  virtual void onRegistered(bool again) = 0;
  virtual void onPlanPush(wire::PlanPush::Reader push) = 0;
  // `payload`: the frames after the message (the graph's bytes).
  virtual void onGraphBlob(wire::GraphBlob::Reader blob, std::span<const zmq::message_t> payload) = 0;
  // `tensorFrames`: the frames after the message, one per header.
  virtual void onSubmit(wire::Submit::Reader submit, std::span<const zmq::message_t> tensorFrames) = 0;
  // The daemon's heartbeat reply carries its current epoch.
  virtual void onDaemonEpoch(uint64_t epoch) = 0;
  // For heartbeats: the newest epoch this agent runs and the requests it holds.
  virtual uint64_t runningEpoch() = 0;
  virtual uint32_t inFlight() = 0;
  // Empty while the compute thread moves; otherwise what stopped moving (Heartbeat.stalled).
  virtual std::string stalled() = 0;
  // For telemetry, called every telemetry interval and after telemetrySoon().
  virtual std::vector<TelemetryReport> telemetry() = 0;
  // Shape an outgoing link (the daemon relays `cleavectl link shape`).
  virtual void onLinkShape(wire::LinkShape::Reader shape) = 0;
};

struct ControlOptions {
  std::string name;  // this agent, as in the topology
  std::string daemonEndpoint;
  std::string daemonPublicKey;  // Z85
  proto::CurveKeyPair keys;     // this agent's
  std::string software;         // for the daemon's logs
  planner::DeviceProfile profile;
  bool profileMeasured = false;
  std::string dataEndpoint;  // where peers reach this agent's data ROUTER
};

class ControlSession {
 public:
  static constexpr std::chrono::seconds DAEMON_SILENCE{3};
  static constexpr double DEFAULT_STALL_SECONDS = 30.0;  // when the daemon sends none
  static constexpr size_t MAX_READS_PER_POLL = 64;
  // Early telemetry (a link estimate moved) is sent at most this often.
  static constexpr std::chrono::milliseconds MIN_TELEMETRY_GAP{50};

  static Result<std::unique_ptr<ControlSession>> create(zmq::context_t& context, ControlOptions options,
                                                        std::shared_ptr<spdlog::logger> log);

  // Connects and says hello.
  Status start(Clock::time_point now);
  zmq::socket_ref socket() { return socket_; }
  // Reads what the daemon sent (bounded per call).
  void receive(ControlHandler& handler, Clock::time_point now);
  // Heartbeats, telemetry, and the silence check.
  void tick(ControlHandler& handler, Clock::time_point now);
  std::optional<Clock::time_point> nextDeadline() const;

  bool registered() const { return state_ == State::Registered; }
  // Set when the daemon refused this agent (version or registration): the agent should stop.
  const std::optional<std::string>& fatal() const { return fatal_; }
  // Hello + register again (the daemon announced an epoch this agent never saw).
  void reRegister(Clock::time_point now, const std::string& why);

  void sendPlanAck(uint64_t epoch, bool accepted, const std::string& reason);
  void sendGraphRequest(const proto::ContentHash& hash);
  // `zeroedInputs`: what a degraded result was computed without (empty: nothing).
  void sendCompleted(uint64_t requestId, uint64_t epoch, const std::vector<proto::WireTensor>& outputs,
                     uint32_t exitStage, const std::vector<std::string>& zeroedInputs = {});
  void sendFailed(uint64_t requestId, uint64_t epoch, const std::string& reason);
  // Report telemetry now rather than at the next interval (rate-limited by MIN_TELEMETRY_GAP).
  void telemetrySoon(Clock::time_point now);

  uint64_t dropped() const { return dropped_; }
  double heartbeatSeconds() const { return heartbeatSeconds_; }
  double telemetrySeconds() const { return telemetrySeconds_; }
  double stallSeconds() const { return stallSeconds_; }

 private:
  enum class State : uint8_t { Idle, AwaitHello, AwaitRegister, Registered };

  ControlSession(zmq::context_t& context, ControlOptions options, std::shared_ptr<spdlog::logger> log)
      : context_(context), options_(std::move(options)), log_(std::move(log)) {}

  Status connect();
  void sendHello();
  void send(capnp::MallocMessageBuilder& builder, std::vector<zmq::message_t> extra = {});
  void dispatch(std::vector<zmq::message_t>& frames, ControlHandler& handler, Clock::time_point now);
  void handleHelloReply(wire::HelloReply::Reader reply);
  void handleRegisterReply(wire::RegisterReply::Reader reply, ControlHandler& handler, Clock::time_point now);
  void handleHeartbeat(wire::Heartbeat::Reader heartbeat, ControlHandler& handler);
  void answerUnimplemented(uint16_t which);
  bool requireRegistered(const char* what);
  void drop(const std::string& why);

  zmq::context_t& context_;
  ControlOptions options_;
  std::shared_ptr<spdlog::logger> log_;
  zmq::socket_t socket_;
  State state_ = State::Idle;
  bool registeredBefore_ = false;
  std::optional<std::string> fatal_;
  Clock::time_point lastHeard_;
  Clock::time_point nextHeartbeat_, nextTelemetry_, lastTelemetry_;
  double heartbeatSeconds_ = 0.25;
  double telemetrySeconds_ = 1.0;
  double stallSeconds_ = DEFAULT_STALL_SECONDS;
  uint64_t sequence_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace cleave::agent
