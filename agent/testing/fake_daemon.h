// A stand-in for cleaved in agent tests: a CURVE ROUTER on an ephemeral loopback port with a
// ZAP handler admitting the agents' keys. It answers hello, register, heartbeats and graph
// requests, records plan acks, telemetry and completed requests, and lets the test push plans,
// submit requests and send raw frames. Everything happens in pumpUntil(), which polls with a
// bounded timeout: the test never sleeps to synchronise.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "proto/plan_codec.h"
#include "proto/secure_socket.h"
#include "proto/tensor_frame.h"

namespace cleave::agent::testing {

struct AgentRecord {
  std::string routingId;  // of its latest connection
  std::string dataEndpoint;
  bool measured = false;
  double convRate = 0.0;
  uint64_t ramBytes = 0;
  bool keyMatches = false;  // register.publicKey == the frames' User-Id == the expected key
  int hellos = 0;
  int registrations = 0;
  int heartbeats = 0;
  std::vector<std::chrono::steady_clock::time_point> heartbeatTimes;
  int telemetryReports = 0;
  uint32_t stageRuns = 0;  // summed over telemetry
};

struct PlanAckRecord {
  bool accepted = false;
  std::string reason;
};

struct CompletedRecord {
  std::string agent;
  uint64_t requestId = 0;
  uint64_t epoch = 0;
  uint32_t exitStage = 0;
  std::string failed;  // empty when outputs arrived
  std::vector<proto::WireTensor> outputs;
};

class FakeDaemon {
 public:
  // Generates the daemon's key pair and one per name in `agents`, writes them to `keysDir` as
  // key files, admits the agents' keys, and binds on tcp://127.0.0.1:*.
  FakeDaemon(const std::string& keysDir, const std::vector<std::string>& agents);
  ~FakeDaemon();

  const std::string& endpoint() const { return endpoint_; }
  zmq::context_t& context() { return context_; }
  proto::ZapAuthenticator& zap() { return *zap_; }
  const proto::CurveKeyPair& keys(const std::string& name) const { return keys_.at(name); }
  proto::CurveKey publicKey(const std::string& name) const;

  // Serves these ONNX bytes on graphRequest; returns their hash.
  proto::ContentHash addGraph(const std::string& bytes);

  // Polls (answering the agents, and calling `extra` handlers for extra sockets) until done()
  // or the timeout; returns done().
  bool pumpUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);
  // Polls extra sockets too: handler called when readable.
  void watch(zmq::socket_t& socket, std::function<void()> onReadable);
  void unwatch(zmq::socket_t& socket);

  void pushPlan(const std::string& agent, const proto::PlanSpec& plan);
  void submit(const std::string& agent, uint64_t requestId, const std::vector<proto::WireTensor>& inputs);
  void sendRaw(const std::string& agent, std::vector<zmq::message_t> frames);
  // Ignore everything from an agent (as a dead daemon would) until it says hello again.
  void setSilentTo(const std::string& agent, bool silent) { silent_[agent] = silent; }

  std::map<std::string, AgentRecord> agents;
  std::map<std::pair<std::string, uint64_t>, PlanAckRecord> planAcks;
  std::vector<CompletedRecord> completed;
  std::vector<std::pair<std::string, uint16_t>> unimplemented;
  int graphRequests = 0;
  uint64_t currentEpoch = 0;          // sent in heartbeat replies
  std::vector<std::string> problems;  // messages the fake daemon could not make sense of

 private:
  void handle(std::vector<zmq::message_t>& frames);
  void send(const std::string& routingId, std::vector<zmq::message_t> frames);

  zmq::context_t context_;
  std::optional<proto::ZapAuthenticator> zap_;
  zmq::socket_t router_;
  std::string endpoint_;
  std::map<std::string, proto::CurveKeyPair> keys_;
  std::map<std::string, std::string> nameByKey_;
  std::map<proto::ContentHash, std::string> graphs_;
  std::map<std::string, bool> silent_;
  std::vector<std::pair<zmq::socket_t*, std::function<void()>>> watched_;
};

}  // namespace cleave::agent::testing
