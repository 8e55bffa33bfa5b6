// The daemon's sockets: two CURVE ROUTERs (agents on the control endpoint, operators on the
// operator endpoint) and the ZAP handler that admits only the topology's keys. It receives in
// bounded batches, drops messages with a bad frame count or encoding (counted), answers hellos
// (protocol version and role) and hands every later message of a connection that said hello to
// the ServerHandler. Sends never block: a peer that cannot take a message loses it (counted); a
// send to an operator that has gone fails, so its watch can end.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include <capnp/message.h>
#include <zmq.hpp>

#include "proto/control.capnp.h"
#include "proto/key_files.h"
#include "proto/message_codec.h"
#include "proto/secure_socket.h"
#include "runtime/result.h"

namespace cleave::daemon {

using Frames = std::vector<zmq::message_t>;

// What the server dropped: messages it could not send, and messages it would not take.
struct ServerCounters {
  uint64_t drops = 0, badMessages = 0;
};

// What the server hands on. Cap'n Proto readers decode lazily: a malformed message can throw
// while a handler reads it; the server catches that and counts the message as bad.
class ServerHandler {
 public:
  virtual ~ServerHandler() = default;
  // A message on the control socket after hello. `userId`: the connection's CURVE public key
  // (Z85). An error: the message was not acceptable (dropped, counted, logged at debug level).
  virtual Status onAgentMessage(const std::string& routingId, const std::string& userId,
                              wire::ControlMessage::Reader message, std::span<zmq::message_t> tensorFrames) = 0;
  virtual void onOperatorRequest(const std::string& operatorId, wire::OperatorRequest::Reader request,
                                 std::span<zmq::message_t> tensorFrames) = 0;
  virtual void onRefusal(const proto::ZapRefusal& refusal) = 0;
};

struct ServerEndpoints {
  std::string control, operators;
};

class ControlServer {
 public:
  // Binds both sockets; only `allowedKeys` (Z85) complete the CURVE handshake.
  static Result<std::unique_ptr<ControlServer>> create(const proto::CurveKeyPair& keys,
                                                       const std::set<std::string>& allowedKeys,
                                                       const ServerEndpoints& bindTo);

  // Waits up to `wait` for traffic, then handles at most a batch from each socket.
  void poll(std::chrono::milliseconds wait, ServerHandler& handler);

  // False when the peer is gone. A peer that is not keeping up (its queue full) loses the
  // message, counted as a drop, and stays.
  bool sendToAgent(const std::string& routingId, capnp::MessageBuilder& message, Frames extra = {});
  bool sendToOperator(const std::string& operatorId, capnp::MessageBuilder& message, Frames extra = {});
  // A final reply carrying an error (cut to 1 KiB).
  void replyError(const std::string& operatorId, uint64_t requestId, const std::string& text);
  // `unimplemented`, for a message kind the daemon does not take.
  void replyUnimplemented(bool toOperator, const std::string& id, uint16_t which);

  ServerEndpoints boundEndpoints();
  uint64_t refusedConnections() const { return zap_->refusedCount(); }
  const ServerCounters& counters() const { return counters_; }

 private:
  ControlServer() = default;
  void onControl(Frames& frames, ServerHandler& handler);
  void onOperator(Frames& frames, ServerHandler& handler);
  // [routing id, message, tensor frames...] -> the decoded message; nullopt (counted) when bad.
  std::optional<proto::DecodedMessage> decodeFrames(const Frames& frames);
  void answerHello(const std::string& id, wire::Hello::Reader hello, bool operatorSocket);
  bool send(zmq::socket_t& socket, const std::string& id, capnp::MessageBuilder& message, Frames extra);

  ServerCounters counters_;
  zmq::context_t context_;
  std::optional<proto::ZapAuthenticator> zap_;
  zmq::socket_t control_, operator_;
  std::set<std::string> helloedControl_, helloedOperators_;  // routing ids that passed hello
};

}  // namespace cleave::daemon
