// The agent's local client socket (docs/protocol.md, "Local clients"): a CURVE ROUTER, ZAP
// domain "client", where local applications whose public keys agent.toml lists (`client_keys`)
// hand requests straight to this agent instead of going through the daemon. It speaks the
// operator protocol's infer subset, so `cleavectl infer` works against it unchanged:
//   hello{role operator}                          -> helloReply
//   operatorRequest{id, infer} + one frame/tensor -> operatorReply{id, final, inferResult} + frames
//                                                    or operatorReply{id, final, error}
//   any other operator request                    -> operatorReply{error}
// This module is the transport: sessions, decoding under CONTROL_LIMITS and the tensor limits,
// replies. What happens to a request (the origin's pending map, re-runs) is the agent's.
//
// The agent has one ZAP handler, whose allow-list holds the plan peers and the client keys
// together; so a message reaches this socket only from a client key (others were let through
// the handshake for the data plane and are dropped here), and never before its sender's hello.
// Everything malformed is dropped and counted; the socket keeps serving.
#pragma once

#include <spdlog/logger.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "proto/control.capnp.h"
#include "proto/key_files.h"
#include "proto/secure_socket.h"
#include "proto/tensor_frame.h"
#include "runtime/result.h"

namespace cleave::agent {

// One decoded infer request from a local client.
struct ClientInfer {
  std::string connection;   // the client's ROUTER routing id, for the reply
  std::string client;       // its key's fingerprint, for logs
  uint64_t operatorId = 0;  // the client's request id, echoed in the reply
  std::vector<proto::WireTensor> inputs;  // as sent; an empty name means "the input at this position"
  double timeoutSeconds = 0.0;            // in (0, MAX_TIMEOUT_SECONDS]; the default when the client sent 0
};

// What the client socket hands to its owner.
class ClientHandler {
 public:
  virtual ~ClientHandler() = default;
  virtual void onClientInfer(ClientInfer request) = 0;
};

class ClientSocket {
 public:
  static constexpr const char* ZAP_DOMAIN = "client";
  // Sessions (routing ids that said hello) remembered; the least recently heard is forgotten
  // first, and must say hello again. ROUTERs do not report disconnects, so this bounds the map.
  static constexpr size_t MAX_SESSIONS = 256;
  static constexpr double DEFAULT_TIMEOUT_SECONDS = 30.0;  // as the daemon's operator infer
  static constexpr double MAX_TIMEOUT_SECONDS = 3600.0;
  static constexpr size_t MAX_READS_PER_POLL = 64;  // so a busy client cannot starve the loop

  // Binds a CURVE ROUTER on `bindEndpoint` with the agent's own keys. `clientKeysZ85`: the keys
  // whose messages are served (the owner puts them on the ZAP allow-list).
  static Result<std::unique_ptr<ClientSocket>> create(proto::ZapAuthenticator& zap, const proto::CurveKeyPair& own,
                                                      const std::string& bindEndpoint,
                                                      std::set<std::string> clientKeysZ85,
                                                      const proto::TensorLimits& limits,
                                                      std::shared_ptr<spdlog::logger> log);
  ~ClientSocket() = default;
  ClientSocket(const ClientSocket&) = delete;
  ClientSocket& operator=(const ClientSocket&) = delete;

  zmq::socket_ref socket() { return router_; }
  const std::string& boundEndpoint() const { return bound_; }
  const std::set<std::string>& keys() const { return keys_; }

  // Reads what is waiting (bounded per call), answers hellos and non-infer requests, and hands
  // each well-formed infer to `handler`.
  void receive(ClientHandler& handler);

  // operatorReply{id, final, inferResult{...}} with one frame per output; an output that cannot
  // be encoded turns the reply into an error.
  void sendResult(const std::string& connection, uint64_t operatorId, uint64_t requestId, uint64_t epoch,
                  double latencySeconds, uint32_t exitStage, const std::vector<proto::WireTensor>& outputs,
                  const std::vector<std::string>& zeroedInputs = {});
  // operatorReply{id, final, error} (the text clipped to the schema's 1024 bytes).
  void sendError(const std::string& connection, uint64_t operatorId, std::string_view message);

  uint64_t dropped() const { return dropped_; }

 private:
  ClientSocket(std::set<std::string> keys, proto::TensorLimits limits, std::shared_ptr<spdlog::logger> log)
      : keys_(std::move(keys)), limits_(limits), log_(std::move(log)) {}

  void dispatch(std::vector<zmq::message_t>& frames, const std::string& client, ClientHandler& handler);
  void handleHello(const std::string& connection, const std::string& client, wire::Hello::Reader hello);
  Status handleInfer(const std::string& connection, const std::string& client, uint64_t operatorId,
                     wire::Infer::Reader infer, std::span<const zmq::message_t> tensorFrames,
                     ClientHandler& handler);
  void send(const std::string& connection, capnp::MallocMessageBuilder& builder,
            std::vector<zmq::message_t> extra = {});
  void drop(const std::string& client, const std::string& why);

  std::set<std::string> keys_;
  proto::TensorLimits limits_;
  std::shared_ptr<spdlog::logger> log_;
  zmq::socket_t router_;
  std::string bound_;
  std::map<std::string, std::chrono::steady_clock::time_point> sessions_;  // routing id -> last heard
  uint64_t dropped_ = 0;
};

}  // namespace cleave::agent
