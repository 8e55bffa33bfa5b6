#include "agent/client_socket.h"

#include <capnp/message.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "agent/socket_io.h"
#include "proto/message_codec.h"
#include "proto/multipart.h"

namespace cleave::agent {
namespace {

constexpr size_t MAX_HELLO_TEXT = 64;
constexpr size_t MAX_ERROR_TEXT = 1024;  // OperatorReply.error's bound

std::string clipped(std::string_view text, size_t maxBytes) {
  if (text.size() <= maxBytes) return std::string(text);
  size_t end = maxBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // not inside a character
  return std::string(text.substr(0, end));
}

// The Z85 key that authenticated the connection a frame came on ("" when libzmq has none).
std::string userIdOf(const zmq::message_t& frame) {
  const char* value = zmq_msg_gets(frame.handle(), "User-Id");
  return value == nullptr ? std::string() : std::string(value);
}

std::string fingerprintOf(const std::string& keyZ85) {
  if (keyZ85.empty()) return "no key";
  Result<std::string> fingerprint = proto::keyFingerprint(keyZ85);
  return fmt::format("key {}", fingerprint ? *fingerprint : std::string("?"));
}

}  // namespace

Result<std::unique_ptr<ClientSocket>> ClientSocket::create(proto::ZapAuthenticator& zap, const proto::CurveKeyPair& own,
                                                           const std::string& bindEndpoint,
                                                           std::set<std::string> clientKeysZ85,
                                                           const proto::TensorLimits& limits,
                                                           std::shared_ptr<spdlog::logger> log) {
  for (const std::string& key : clientKeysZ85)
    if (Result<proto::CurveKey> decoded = proto::decodeZ85Key(key); !decoded)
      return Error{"client key: " + decoded.error().message};
  std::unique_ptr<ClientSocket> socket(new ClientSocket(std::move(clientKeysZ85), limits, std::move(log)));
  proto::SocketOptions options;
  options.maxFrameBytes = static_cast<int64_t>(std::max<uint64_t>(limits.maxTensorBytes, 1 << 20));
  Result<zmq::socket_t> router = proto::makeCurveServer(zap, zmq::socket_type::router, own.secretKey, ZAP_DOMAIN, options);
  if (!router) return Error{"client socket: " + router.error().message};
  socket->router_ = std::move(*router);
  try {
    socket->router_.bind(bindEndpoint);
    socket->bound_ = socket->router_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("client socket: cannot bind {}: {}", bindEndpoint, e.what())};
  }
  return socket;
}

void ClientSocket::drop(const std::string& client, const std::string& why) {
  ++dropped_;
  log_->warn("dropped a message on the client socket from {}: {}", client, why);
}

void ClientSocket::receive(ClientHandler& handler) {
  std::vector<zmq::message_t> frames;
  for (size_t n = 0; n < MAX_READS_PER_POLL; ++n) {
    const size_t maxFrames = 2 + limits_.maxTensors;  // routing id, the message, its tensors
    proto::Received received;
    try {
      received = proto::receiveMultipart(router_, frames, maxFrames);
    } catch (const zmq::error_t& e) {
      log_->warn("client socket: receive failed: {}", e.what());
      return;
    }
    if (received == proto::Received::Nothing) return;
    if (received == proto::Received::TooManyFrames) {
      drop("a client", fmt::format("more than {} frames", maxFrames));
      continue;
    }
    const std::string key = frames.size() > 1 ? userIdOf(frames[1]) : std::string();
    const std::string client = fingerprintOf(key);
    if (frames.size() < 2) {
      drop(client, "no message frame");
      continue;
    }
    if (!keys_.contains(key)) {
      // Admitted by the shared ZAP handler as a data-plane peer, not as a client.
      drop(client, "not a client key (a data-plane peer's key?)");
      continue;
    }
    dispatch(frames, client, handler);
  }
}

void ClientSocket::dispatch(std::vector<zmq::message_t>& frames, const std::string& client, ClientHandler& handler) {
  const std::string connection = frames[0].to_string();
  Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames[1], proto::CONTROL_LIMITS);
  if (!decoded) return drop(client, decoded.error().message);
  Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
  if (!root) return drop(client, root.error().message);
  std::span<const zmq::message_t> extra = std::span<const zmq::message_t>(frames).subspan(2);
  Status handled = proto::decodeGuard("client message", [&]() -> Status {
    wire::ControlMessage::Reader message = *root;
    if (message.isHello()) {
      if (!extra.empty()) return Error{fmt::format("{} unexpected frames after a hello", extra.size())};
      handleHello(connection, client, message.getHello());
      return {};
    }
    auto session = sessions_.find(connection);
    if (session == sessions_.end()) return Error{"a message before hello"};
    session->second = std::chrono::steady_clock::now();
    switch (message.which()) {
      case wire::ControlMessage::OPERATOR_REQUEST: {
        wire::OperatorRequest::Reader request = message.getOperatorRequest();
        if (request.which() == wire::OperatorRequest::INFER)
          return handleInfer(connection, client, request.getId(), request.getInfer(), extra, handler);
        log_->info("client {}: request {} of kind {} answered with an error (only infer is served here)", client,
                   request.getId(), static_cast<uint16_t>(request.which()));
        sendError(connection, request.getId(), "only infer is served on an agent's client socket");
        return {};
      }
      case wire::ControlMessage::UNIMPLEMENTED:
        return Error{"unimplemented (never answered in kind: two peers would bounce it forever)"};
      default: {
        capnp::MallocMessageBuilder reply;
        reply.initRoot<wire::ControlMessage>().initUnimplemented().setWhich(static_cast<uint16_t>(message.which()));
        send(connection, reply);
        return Error{fmt::format("message kind {} (answered unimplemented)", static_cast<uint16_t>(message.which()))};
      }
    }
  });
  if (!handled) drop(client, handled.error().message);
}

void ClientSocket::handleHello(const std::string& connection, const std::string& client, wire::Hello::Reader hello) {
  Result<std::string> name = proto::readText(hello.getName(), MAX_HELLO_TEXT, "hello name");
  std::string reason;
  if (hello.getProtocolVersion() != wire::PROTOCOL_VERSION)
    reason = fmt::format("protocol version {}, this agent speaks {}", hello.getProtocolVersion(), wire::PROTOCOL_VERSION);
  else if (hello.getRole() != wire::Hello::Role::OPERATOR)
    reason = "this is an agent's client socket: say hello as an operator (agents talk to the daemon)";
  else if (!name)
    reason = name.error().message;
  capnp::MallocMessageBuilder builder;
  auto reply = builder.initRoot<wire::ControlMessage>().initHelloReply();
  reply.setProtocolVersion(wire::PROTOCOL_VERSION);
  reply.setAccepted(reason.empty());
  reply.setReason(capnp::Text::Reader(reason.data(), reason.size()));
  send(connection, builder);
  if (!reason.empty()) {
    ++dropped_;
    sessions_.erase(connection);
    log_->warn("client {}: hello refused: {}", client, reason);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  if (!sessions_.contains(connection) && sessions_.size() >= MAX_SESSIONS) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
    sessions_.erase(oldest);
  }
  sessions_[connection] = now;
  log_->info("client {} ({}) said hello", client, *name);
}

Status ClientSocket::handleInfer(const std::string& connection, const std::string& client, uint64_t operatorId,
                                 wire::Infer::Reader infer, std::span<const zmq::message_t> tensorFrames,
                                 ClientHandler& handler) {
  // A malformed request is still answered: the client waits for exactly one reply per id.
  auto refuse = [&](const std::string& why) -> Status {
    sendError(connection, operatorId, "infer: " + why);
    return Error{fmt::format("infer {}: {}", operatorId, why)};
  };
  auto headers = infer.getTensors();
  if (Status frames = proto::checkTensorFrames(headers.size(), tensorFrames, limits_); !frames)
    return refuse(frames.error().message);
  ClientInfer request;
  request.connection = connection;
  request.client = client;
  request.operatorId = operatorId;
  for (unsigned i = 0; i < headers.size(); ++i) {
    Result<proto::WireTensor> tensor = proto::decodeTensor(
        headers[i], {static_cast<const std::byte*>(tensorFrames[i].data()), tensorFrames[i].size()}, limits_);
    if (!tensor) return refuse(fmt::format("input {}: {}", i, tensor.error().message));
    if (!tensor->name.empty())
      for (const proto::WireTensor& other : request.inputs)
        if (other.name == tensor->name) return refuse(fmt::format("input '{}' appears twice", tensor->name));
    request.inputs.push_back(std::move(*tensor));
  }
  const double timeout = infer.getTimeoutSeconds();
  request.timeoutSeconds =
      std::isfinite(timeout) && timeout > 0 ? std::min(timeout, MAX_TIMEOUT_SECONDS) : DEFAULT_TIMEOUT_SECONDS;
  handler.onClientInfer(std::move(request));
  return {};
}

void ClientSocket::send(const std::string& connection, capnp::MallocMessageBuilder& builder,
                        std::vector<zmq::message_t> extra) {
  std::vector<zmq::message_t> frames;
  frames.reserve(2 + extra.size());
  frames.emplace_back(connection.data(), connection.size());
  frames.push_back(proto::encodeMessage(builder));
  for (zmq::message_t& frame : extra) frames.push_back(std::move(frame));
  // A client gone meanwhile: the ROUTER drops the reply, and there is nobody to tell.
  if (Status sent = sendMessage(router_, frames); !sent)
    log_->warn("reply on the client socket not sent: {}", sent.error().message);
}

void ClientSocket::sendResult(const std::string& connection, uint64_t operatorId, uint64_t requestId, uint64_t epoch,
                              double latencySeconds, uint32_t exitStage,
                              const std::vector<proto::WireTensor>& outputs,
                              const std::vector<std::string>& zeroedInputs) {
  capnp::MallocMessageBuilder builder;
  auto reply = builder.initRoot<wire::ControlMessage>().initOperatorReply();
  reply.setId(operatorId);
  reply.setFinal(true);
  auto result = reply.initInferResult();
  result.setRequestId(requestId);
  result.setEpoch(epoch);
  result.setLatencySeconds(latencySeconds);
  result.setExitStage(exitStage);
  auto zeroed = result.initZeroedInputs(static_cast<unsigned>(zeroedInputs.size()));
  for (size_t i = 0; i < zeroedInputs.size(); ++i) zeroed.set(static_cast<unsigned>(i), zeroedInputs[i]);
  auto headers = result.initTensors(static_cast<unsigned>(outputs.size()));
  std::vector<zmq::message_t> frames;
  for (size_t i = 0; i < outputs.size(); ++i) {
    Result<zmq::message_t> frame = proto::encodeTensor(outputs[i], headers[static_cast<unsigned>(i)]);
    if (!frame) return sendError(connection, operatorId, "output cannot be encoded: " + frame.error().message);
    frames.push_back(std::move(*frame));
  }
  send(connection, builder, std::move(frames));
}

void ClientSocket::sendError(const std::string& connection, uint64_t operatorId, std::string_view message) {
  capnp::MallocMessageBuilder builder;
  auto reply = builder.initRoot<wire::ControlMessage>().initOperatorReply();
  reply.setId(operatorId);
  reply.setFinal(true);
  const std::string text = clipped(message, MAX_ERROR_TEXT);
  reply.setError(capnp::Text::Reader(text.data(), text.size()));
  send(connection, builder);
}

}  // namespace cleave::agent
