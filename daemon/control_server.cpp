#include "daemon/control_server.h"

#include <array>
#include <tuple>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "proto/message_codec.h"
#include "proto/multipart.h"

namespace cleave::daemon {
namespace {

constexpr size_t MAX_FRAMES = 1 + 16;  // a header and at most 16 tensors
constexpr int BATCH = 256;             // messages per socket per poll, so one cannot starve the other

std::string lastEndpoint(zmq::socket_t& socket) { return socket.get(zmq::sockopt::last_endpoint); }

}  // namespace

Result<std::unique_ptr<ControlServer>> ControlServer::create(const proto::CurveKeyPair& keys,
                                                             const std::set<std::string>& allowedKeys,
                                                             const ServerEndpoints& bindTo) {
  std::unique_ptr<ControlServer> s(new ControlServer());
  Result<proto::ZapAuthenticator> zap = proto::ZapAuthenticator::create(s->context_);
  if (!zap) return zap.error();
  s->zap_.emplace(std::move(*zap));
  CLEAVE_TRY(s->zap_->setAllowed(allowedKeys));
  Result<zmq::socket_t> control = proto::makeCurveServer(*s->zap_, zmq::socket_type::router, keys.secretKey, "control");
  if (!control) return control.error();
  Result<zmq::socket_t> ops = proto::makeCurveServer(*s->zap_, zmq::socket_type::router, keys.secretKey, "operator");
  if (!ops) return ops.error();
  s->control_ = std::move(*control);
  s->operator_ = std::move(*ops);
  // Sends to an operator that has gone fail instead of vanishing, so its watch can be dropped.
  s->operator_.set(zmq::sockopt::router_mandatory, 1);
  try {
    s->control_.bind(bindTo.control);
    s->operator_.bind(bindTo.operators);
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot bind {} / {}: {}", bindTo.control, bindTo.operators, e.what())};
  }
  return s;
}

ServerEndpoints ControlServer::boundEndpoints() { return {lastEndpoint(control_), lastEndpoint(operator_)}; }

void ControlServer::poll(std::chrono::milliseconds wait, ServerHandler& handler) {
  std::array<zmq::pollitem_t, 3> items{{{zap_->socket().handle(), 0, ZMQ_POLLIN, 0},
                                        {control_.handle(), 0, ZMQ_POLLIN, 0},
                                        {operator_.handle(), 0, ZMQ_POLLIN, 0}}};
  try {
    zmq::poll(items.data(), items.size(), wait);
  } catch (const zmq::error_t& e) {
    if (e.num() == EINTR) return;
    throw;
  }
  if (items[0].revents & ZMQ_POLLIN) {
    zap_->handlePending();
    for (const proto::ZapRefusal& refusal : zap_->takeRefusals()) handler.onRefusal(refusal);
  }
  for (auto [socket, ready, onMessage] :
       {std::tuple{&control_, items[1].revents & ZMQ_POLLIN, &ControlServer::onControl},
        std::tuple{&operator_, items[2].revents & ZMQ_POLLIN, &ControlServer::onOperator}}) {
    for (int i = 0; i < BATCH && ready; ++i) {
      Frames frames;
      proto::Received got = proto::receiveMultipart(*socket, frames, 2 + MAX_FRAMES);
      if (got == proto::Received::Nothing) break;
      if (got == proto::Received::TooManyFrames) ++counters_.badMessages;
      else (this->*onMessage)(frames, handler);
    }
  }
}

std::optional<proto::DecodedMessage> ControlServer::decodeFrames(const Frames& frames) {
  if (frames.size() < 2 || frames.size() > 1 + MAX_FRAMES) {
    ++counters_.badMessages;
    return std::nullopt;
  }
  Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames[1], proto::CONTROL_LIMITS);
  if (!decoded) {
    ++counters_.badMessages;
    return std::nullopt;
  }
  return std::move(*decoded);
}

void ControlServer::onControl(Frames& frames, ServerHandler& handler) {
  std::optional<proto::DecodedMessage> decoded = decodeFrames(frames);
  if (!decoded) return;
  std::string id = frames[0].to_string();
  std::string userId;
  try {
    userId = frames[1].gets("User-Id");
  } catch (const zmq::error_t&) {
  }
  std::span<zmq::message_t> rest(frames.begin() + 2, frames.end());
  Status handled = proto::decodeGuard("control message", [&]() -> Status {
    Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
    if (!root) return root.error();
    if (root->isHello()) {
      answerHello(id, root->getHello(), false);
      return {};
    }
    if (!helloedControl_.count(id)) return Error{"a message before hello"};
    return handler.onAgentMessage(id, userId, *root, rest);
  });
  if (!handled) {
    ++counters_.badMessages;
    spdlog::debug("dropped a control message: {}", handled.error().message);
  }
}

void ControlServer::onOperator(Frames& frames, ServerHandler& handler) {
  std::optional<proto::DecodedMessage> decoded = decodeFrames(frames);
  if (!decoded) return;
  std::string id = frames[0].to_string();
  std::span<zmq::message_t> rest(frames.begin() + 2, frames.end());
  Status handled = proto::decodeGuard("operator message", [&]() -> Status {
    Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
    if (!root) return root.error();
    if (root->isHello()) {
      answerHello(id, root->getHello(), true);
      return {};
    }
    if (!helloedOperators_.count(id)) return Error{"operator request before hello"};
    if (!root->isOperatorRequest()) return Error{"not an operator request"};
    handler.onOperatorRequest(id, root->getOperatorRequest(), rest);
    return {};
  });
  if (!handled) {
    ++counters_.badMessages;
    spdlog::debug("dropped an operator message: {}", handled.error().message);
  }
}

void ControlServer::answerHello(const std::string& id, wire::Hello::Reader hello, bool operatorSocket) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initHelloReply();
  r.setProtocolVersion(wire::PROTOCOL_VERSION);
  bool roleOk = hello.getRole() == (operatorSocket ? wire::Hello::Role::OPERATOR : wire::Hello::Role::AGENT);
  std::string reason;
  if (hello.getProtocolVersion() != wire::PROTOCOL_VERSION)
    reason = fmt::format("protocol version {}, daemon speaks {}", hello.getProtocolVersion(), wire::PROTOCOL_VERSION);
  else if (!roleOk)
    reason = operatorSocket ? "this is the operator socket; agents connect to the control endpoint"
                            : "this is the control socket; operators connect to the operator endpoint";
  r.setAccepted(reason.empty());
  r.setReason(reason);
  if (reason.empty()) (operatorSocket ? helloedOperators_ : helloedControl_).insert(id);
  else spdlog::warn("refused hello: {}", reason);
  send(operatorSocket ? operator_ : control_, id, reply, {});
}

bool ControlServer::sendToAgent(const std::string& routingId, capnp::MessageBuilder& message, Frames extra) {
  return send(control_, routingId, message, std::move(extra));
}

bool ControlServer::sendToOperator(const std::string& operatorId, capnp::MessageBuilder& message, Frames extra) {
  return send(operator_, operatorId, message, std::move(extra));
}

void ControlServer::replyError(const std::string& operatorId, uint64_t requestId, const std::string& text) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(requestId);
  r.setFinal(true);
  r.setError(text.substr(0, 1024));
  sendToOperator(operatorId, reply);
}

void ControlServer::replyUnimplemented(bool toOperator, const std::string& id, uint16_t which) {
  capnp::MallocMessageBuilder reply;
  reply.initRoot<wire::ControlMessage>().initUnimplemented().setWhich(which);
  send(toOperator ? operator_ : control_, id, reply, {});
}

bool ControlServer::send(zmq::socket_t& socket, const std::string& id, capnp::MessageBuilder& message, Frames extra) {
  try {
    // A peer whose queue is full (a watch nobody reads, an agent far behind) loses the message,
    // counted; it is still there, so this is no reason to forget it. ROUTER queues a message whole
    // or not at all, so only the first frame can find the queue full.
    if (!socket.send(zmq::buffer(id), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      ++counters_.drops;
      spdlog::debug("a peer's queue is full: a message to it was dropped");
      return true;
    }
    socket.send(proto::encodeMessage(message), extra.empty() ? zmq::send_flags::dontwait
                                                            : zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    for (size_t i = 0; i < extra.size(); ++i)
      socket.send(extra[i], i + 1 < extra.size() ? zmq::send_flags::sndmore | zmq::send_flags::dontwait
                                                 : zmq::send_flags::dontwait);
  } catch (const zmq::error_t& e) {
    ++counters_.drops;
    spdlog::debug("send to a peer failed: {}", e.what());
    return false;
  }
  return true;
}

}  // namespace cleave::daemon
