#include "agent/testing/fake_daemon.h"

#include <capnp/message.h>
#include <fmt/format.h>

#include <stdexcept>
#include <zmq_addon.hpp>

#include "proto/content_hash.h"
#include "proto/message_codec.h"

namespace cleave::agent::testing {
namespace {

template <class T>
T orThrow(Result<T> result, const char* what) {
  if (!result) throw std::runtime_error(fmt::format("{}: {}", what, result.error().message));
  return std::move(*result);
}

}  // namespace

FakeDaemon::FakeDaemon(const std::string& keysDir, const std::vector<std::string>& agentNames) {
  zap_.emplace(orThrow(proto::ZapAuthenticator::create(context_), "ZAP"));
  for (const std::string& name : agentNames) agents[name] = AgentRecord{};
  std::vector<std::string> names = agentNames;
  names.push_back("daemon");
  for (const std::string& name : names) {
    proto::CurveKeyPair pair = orThrow(proto::generateKeyPair(), "keys");
    if (Status written = proto::writeKeyFiles(pair, keysDir, name, false); !written)
      throw std::runtime_error(written.error().message);
    keys_[name] = pair;
    if (name != "daemon") {
      nameByKey_[pair.publicKey] = name;
      if (Status ok = zap_->allow(pair.publicKey); !ok) throw std::runtime_error(ok.error().message);
    }
  }
  router_ = orThrow(
      proto::makeCurveServer(*zap_, zmq::socket_type::router, keys_["daemon"].secretKey, "cleave-control"), "router");
  router_.bind("tcp://127.0.0.1:*");
  endpoint_ = router_.get(zmq::sockopt::last_endpoint);
}

FakeDaemon::~FakeDaemon() = default;

proto::CurveKey FakeDaemon::publicKey(const std::string& name) const {
  return *proto::decodeZ85Key(keys_.at(name).publicKey);
}

proto::ContentHash FakeDaemon::addGraph(const std::string& bytes) {
  proto::ContentHash hash =
      proto::contentHash(std::span<const std::byte>(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  graphs_[hash] = bytes;
  return hash;
}

void FakeDaemon::watch(zmq::socket_t& socket, std::function<void()> onReadable) {
  watched_.emplace_back(&socket, std::move(onReadable));
}

void FakeDaemon::unwatch(zmq::socket_t& socket) {
  std::erase_if(watched_, [&](const auto& entry) { return entry.first == &socket; });
}

bool FakeDaemon::pumpUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) return false;
    std::vector<zmq::pollitem_t> items = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                                          {zap_->socket().handle(), 0, ZMQ_POLLIN, 0}};
    for (auto& [socket, handler] : watched_) items.push_back({socket->handle(), 0, ZMQ_POLLIN, 0});
    zmq::poll(items, std::min(left, std::chrono::milliseconds(100)));
    if (items[1].revents & ZMQ_POLLIN) zap_->handlePending();
    if (items[0].revents & ZMQ_POLLIN) {
      for (int n = 0; n < 64; ++n) {
        std::vector<zmq::message_t> frames;
        if (!zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) break;
        handle(frames);
      }
    }
    for (size_t i = 0; i < watched_.size(); ++i)
      if (items[2 + i].revents & ZMQ_POLLIN) watched_[i].second();
  }
  return true;
}

void FakeDaemon::send(const std::string& routingId, std::vector<zmq::message_t> frames) {
  router_.send(zmq::buffer(routingId), zmq::send_flags::sndmore);
  for (size_t i = 0; i < frames.size(); ++i)
    router_.send(frames[i], i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

void FakeDaemon::sendRaw(const std::string& agent, std::vector<zmq::message_t> frames) {
  send(agents.at(agent).routingId, std::move(frames));
}

void FakeDaemon::pushPlan(const std::string& agent, const proto::PlanSpec& plan) {
  capnp::MallocMessageBuilder builder;
  proto::encodePlanPush(plan, builder.initRoot<wire::ControlMessage>().initPlanPush());
  std::vector<zmq::message_t> frames;
  frames.push_back(proto::encodeMessage(builder));
  sendRaw(agent, std::move(frames));
}

void FakeDaemon::submit(const std::string& agent, uint64_t requestId, const std::vector<proto::WireTensor>& inputs) {
  capnp::MallocMessageBuilder builder;
  auto submitMessage = builder.initRoot<wire::ControlMessage>().initSubmit();
  submitMessage.setRequestId(requestId);
  auto headers = submitMessage.initTensors(static_cast<unsigned>(inputs.size()));
  std::vector<zmq::message_t> frames(1);
  for (size_t i = 0; i < inputs.size(); ++i)
    frames.push_back(orThrow(proto::encodeTensor(inputs[i], headers[static_cast<unsigned>(i)]), "encode input"));
  frames[0] = proto::encodeMessage(builder);
  sendRaw(agent, std::move(frames));
}

void FakeDaemon::handle(std::vector<zmq::message_t>& frames) {
  if (frames.size() < 2) {
    problems.push_back("a message without a body");
    return;
  }
  const char* userId = zmq_msg_gets(frames[1].handle(), "User-Id");
  auto known = userId ? nameByKey_.find(userId) : nameByKey_.end();
  if (known == nameByKey_.end()) {
    problems.push_back("a message from an unknown key");
    return;
  }
  const std::string& name = known->second;
  AgentRecord& agent = agents[name];
  Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames[1], proto::CONTROL_LIMITS);
  if (!decoded) {
    problems.push_back(name + ": " + decoded.error().message);
    return;
  }
  Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
  if (!root) {
    problems.push_back(name + ": " + root.error().message);
    return;
  }
  capnp::MallocMessageBuilder reply;
  auto out = reply.initRoot<wire::ControlMessage>();
  std::vector<zmq::message_t> replyFrames;
  wire::ControlMessage::Reader message = *root;
  if (silent_[name]) {
    // A silent daemon ignores everything until the agent says hello again, then "comes back".
    if (message.which() != wire::ControlMessage::HELLO) return;
    silent_[name] = false;
  }
  agent.routingId = frames[0].to_string();
  switch (message.which()) {
    case wire::ControlMessage::HELLO: {
      agent.hellos += 1;
      auto hello = out.initHelloReply();
      hello.setProtocolVersion(wire::PROTOCOL_VERSION);
      hello.setAccepted(message.getHello().getProtocolVersion() == wire::PROTOCOL_VERSION &&
                        message.getHello().getRole() == wire::Hello::Role::AGENT);
      break;
    }
    case wire::ControlMessage::REGISTER: {
      auto reg = message.getRegister();
      agent.registrations += 1;
      agent.dataEndpoint = reg.getDataEndpoint().cStr();
      agent.measured = reg.getProfile().getMeasured();
      agent.convRate = reg.getProfile().getMacsPerSecond().getConv();
      agent.ramBytes = reg.getProfile().getRamBytes();
      Result<proto::CurveKey> key = proto::readKey32(reg.getPublicKey(), "key");
      agent.keyMatches =
          key && proto::encodeZ85Key(*key) == userId && reg.getName() == name && keys_.at(name).publicKey == userId;
      auto registered = out.initRegisterReply();
      registered.setAccepted(agent.keyMatches);
      registered.setHeartbeatSeconds(0.1);
      registered.setTelemetrySeconds(0.3);
      break;
    }
    case wire::ControlMessage::HEARTBEAT: {
      agent.heartbeats += 1;
      agent.heartbeatTimes.push_back(std::chrono::steady_clock::now());
      auto beat = out.initHeartbeat();
      beat.setSequence(message.getHeartbeat().getSequence());
      beat.setEpoch(currentEpoch);
      break;
    }
    case wire::ControlMessage::TELEMETRY:
      agent.telemetryReports += 1;
      for (auto stage : message.getTelemetry().getStages()) agent.stageRuns += stage.getRuns();
      return;
    case wire::ControlMessage::PLAN_ACK: {
      auto ack = message.getPlanAck();
      planAcks[{name, ack.getEpoch()}] = PlanAckRecord{ack.getAccepted(), ack.getReason().cStr()};
      return;
    }
    case wire::ControlMessage::GRAPH_REQUEST: {
      graphRequests += 1;
      Result<proto::ContentHash> hash = proto::readKey32(message.getGraphRequest().getHash(), "hash");
      auto blob = out.initGraphBlob();
      if (hash) blob.setHash(proto::dataOf(*hash));
      auto it = hash ? graphs_.find(*hash) : graphs_.end();
      blob.setFound(it != graphs_.end());
      blob.setByteLength(it != graphs_.end() ? it->second.size() : 0);
      replyFrames.push_back(it != graphs_.end() ? zmq::message_t(it->second.data(), it->second.size())
                                                : zmq::message_t());
      break;
    }
    case wire::ControlMessage::COMPLETED: {
      auto done = message.getCompleted();
      CompletedRecord record;
      record.agent = name;
      record.requestId = done.getRequestId();
      record.epoch = done.getEpoch();
      record.exitStage = done.getExitStage();
      if (done.which() == wire::Completed::FAILED) {
        record.failed = done.getFailed().cStr();
        if (record.failed.empty()) record.failed = "(no reason)";
      } else {
        auto headers = done.getOutputs();
        if (headers.size() + 2 != frames.size()) {
          problems.push_back(fmt::format("{}: completed {} has {} headers and {} frames", name, record.requestId,
                                         headers.size(), frames.size() - 2));
          return;
        }
        for (unsigned i = 0; i < headers.size(); ++i) {
          const zmq::message_t& frame = frames[2 + i];
          Result<proto::WireTensor> tensor = proto::decodeTensor(
              headers[i], {static_cast<const std::byte*>(frame.data()), frame.size()}, proto::TensorLimits{});
          if (!tensor) {
            problems.push_back(fmt::format("{}: completed {}: {}", name, record.requestId, tensor.error().message));
            return;
          }
          record.outputs.push_back(std::move(*tensor));
        }
      }
      completed.push_back(std::move(record));
      return;
    }
    case wire::ControlMessage::UNIMPLEMENTED:
      unimplemented.emplace_back(name, message.getUnimplemented().getWhich());
      return;
    default:
      problems.push_back(fmt::format("{}: unexpected message kind {}", name, static_cast<uint16_t>(message.which())));
      return;
  }
  std::vector<zmq::message_t> all;
  all.push_back(proto::encodeMessage(reply));
  for (zmq::message_t& frame : replyFrames) all.push_back(std::move(frame));
  send(agent.routingId, std::move(all));
}

}  // namespace cleave::agent::testing
