#include "agent/control_session.h"

#include <capnp/message.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "agent/graph_cache.h"
#include "agent/socket_io.h"
#include "proto/message_codec.h"
#include "proto/secure_socket.h"

namespace cleave::agent {
namespace {

constexpr size_t MAX_CONTROL_FRAMES = 1 + 16;  // a message and its tensor frames (or one graph)
constexpr size_t MAX_TEXT = 64;                // hello name/software, profile kind is 32
constexpr size_t MAX_REASON = 256;
// Intervals the agent accepts from the daemon; anything else falls back to the default.
constexpr double MIN_INTERVAL = 0.01, MAX_INTERVAL = 60.0;

capnp::Text::Reader text(const std::string& s) { return capnp::Text::Reader(s.data(), s.size()); }

std::string clipped(const std::string& s, size_t maxBytes) {
  if (s.size() <= maxBytes) return s;
  size_t end = maxBytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

double interval(double value, double fallback) {
  return std::isfinite(value) && value >= MIN_INTERVAL && value <= MAX_INTERVAL ? value : fallback;
}

void writeProfile(const planner::DeviceProfile& profile, bool measured, wire::DeviceProfile::Builder out) {
  out.setKind(text(clipped(profile.kind, 32)));
  auto rates = out.initMacsPerSecond();
  rates.setConv(profile.rate(planner::OpClass::Conv));
  rates.setDepthwise(profile.rate(planner::OpClass::Depthwise));
  rates.setGemm(profile.rate(planner::OpClass::Gemm));
  rates.setElementwise(profile.rate(planner::OpClass::Elementwise));
  rates.setOther(profile.rate(planner::OpClass::Other));
  out.setNodeOverheadSeconds(profile.nodeOverheadSeconds);
  out.setRamBytes(static_cast<uint64_t>(std::max<int64_t>(profile.ramBytes, 0)));
  out.setFlashBytes(static_cast<uint64_t>(std::max<int64_t>(profile.flashBytes.value_or(0), 0)));
  out.setJoulesPerMac(profile.joulesPerMac);
  out.setRadioJoulesPerByte(profile.radioJoulesPerByte);
  out.setMeasured(measured);
}

}  // namespace

Result<std::unique_ptr<ControlSession>> ControlSession::create(zmq::context_t& context, ControlOptions options,
                                                               std::shared_ptr<spdlog::logger> log) {
  if (Result<proto::CurveKey> key = proto::decodeZ85Key(options.daemonPublicKey); !key)
    return Error{"daemon key: " + key.error().message};
  return std::unique_ptr<ControlSession>(new ControlSession(context, std::move(options), std::move(log)));
}

Status ControlSession::connect() {
  proto::SocketOptions socketOptions;
  socketOptions.maxFrameBytes = static_cast<int64_t>(MAX_GRAPH_BYTES);
  Result<zmq::socket_t> socket = proto::makeCurveClient(context_, zmq::socket_type::dealer, options_.keys,
                                                        options_.daemonPublicKey, socketOptions);
  if (!socket) return Error{"control socket: " + socket.error().message};
  try {
    socket->connect(options_.daemonEndpoint);
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot connect to the daemon at {}: {}", options_.daemonEndpoint, e.what())};
  }
  socket_ = std::move(*socket);
  return {};
}

Status ControlSession::start(Clock::time_point now) {
  CLEAVE_TRY(connect());
  lastHeard_ = now;
  sendHello();
  return {};
}

void ControlSession::reRegister(Clock::time_point now, const std::string& why) {
  log_->warn("registering again with the daemon at {}: {}", options_.daemonEndpoint, why);
  // A fresh socket: a daemon that restarted needs a new handshake, and whatever the old socket
  // still queued is stale.
  if (Status ok = connect(); !ok) {
    log_->error("{}", ok.error().message);
    lastHeard_ = now;  // try again after another silence period
    return;
  }
  lastHeard_ = now;
  sendHello();
}

void ControlSession::send(capnp::MallocMessageBuilder& builder, std::vector<zmq::message_t> extra) {
  std::vector<zmq::message_t> frames;
  frames.reserve(1 + extra.size());
  frames.push_back(proto::encodeMessage(builder));
  for (zmq::message_t& frame : extra) frames.push_back(std::move(frame));
  if (Status sent = sendMessage(socket_, frames); !sent)
    log_->warn("control message to the daemon not sent: {}", sent.error().message);
}

void ControlSession::sendHello() {
  capnp::MallocMessageBuilder builder;
  auto hello = builder.initRoot<wire::ControlMessage>().initHello();
  hello.setProtocolVersion(wire::PROTOCOL_VERSION);
  hello.setRole(wire::Hello::Role::AGENT);
  hello.setName(text(clipped(options_.name, MAX_TEXT)));
  hello.setSoftware(text(clipped(options_.software, MAX_TEXT)));
  send(builder);
  state_ = State::AwaitHello;
}

void ControlSession::receive(ControlHandler& handler, Clock::time_point now) {
  for (size_t n = 0; n < MAX_READS_PER_POLL; ++n) {
    std::optional<ReceivedMessage> message = receiveMessage(socket_, MAX_CONTROL_FRAMES);
    if (!message) return;
    // Only the daemon can be at the other end (CURVE checked its key), so anything counts as a
    // sign of life, even a message we then drop.
    lastHeard_ = now;
    if (message->truncated) {
      drop(fmt::format("more than {} frames", MAX_CONTROL_FRAMES));
      continue;
    }
    dispatch(message->frames, handler, now);
  }
}

void ControlSession::dispatch(std::vector<zmq::message_t>& frames, ControlHandler& handler, Clock::time_point now) {
  Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames[0], proto::CONTROL_LIMITS);
  if (!decoded) {
    drop(decoded.error().message);
    return;
  }
  Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
  if (!root) {
    drop(root.error().message);
    return;
  }
  std::span<const zmq::message_t> extra = std::span<const zmq::message_t>(frames).subspan(1);
  Status handled = proto::decodeGuard("control message", [&]() -> Status {
    wire::ControlMessage::Reader message = *root;
    const auto which = message.which();
    if (which != wire::ControlMessage::GRAPH_BLOB && which != wire::ControlMessage::SUBMIT && !extra.empty())
      return Error{
          fmt::format("{} unexpected frames after a message of kind {}", extra.size(), static_cast<uint16_t>(which))};
    switch (which) {
      case wire::ControlMessage::HELLO_REPLY:
        handleHelloReply(message.getHelloReply());
        return {};
      case wire::ControlMessage::REGISTER_REPLY:
        handleRegisterReply(message.getRegisterReply(), handler, now);
        return {};
      case wire::ControlMessage::HEARTBEAT:
        handleHeartbeat(message.getHeartbeat(), handler);
        return {};
      case wire::ControlMessage::PLAN_PUSH:
        if (requireRegistered("plan push")) handler.onPlanPush(message.getPlanPush());
        return {};
      case wire::ControlMessage::GRAPH_BLOB:
        if (requireRegistered("graph blob")) handler.onGraphBlob(message.getGraphBlob(), extra);
        return {};
      case wire::ControlMessage::SUBMIT:
        if (requireRegistered("submit")) handler.onSubmit(message.getSubmit(), extra);
        return {};
      case wire::ControlMessage::LINK_SHAPE:
        if (requireRegistered("link shape")) handler.onLinkShape(message.getLinkShape());
        return {};
      case wire::ControlMessage::UNIMPLEMENTED:
        // Never answered in kind: two peers would bounce it forever.
        log_->warn("the daemon does not handle message kind {}", message.getUnimplemented().getWhich());
        return {};
      default:
        answerUnimplemented(static_cast<uint16_t>(which));
        return {};
    }
  });
  if (!handled) drop(handled.error().message);
}

bool ControlSession::requireRegistered(const char* what) {
  if (state_ == State::Registered) return true;
  drop(fmt::format("{} before registration", what));
  return false;
}

void ControlSession::drop(const std::string& why) {
  ++dropped_;
  log_->warn("dropped a control message from the daemon: {}", why);
}

void ControlSession::answerUnimplemented(uint16_t which) {
  ++dropped_;
  log_->warn("the daemon sent message kind {}, which an agent does not handle: answered unimplemented", which);
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::ControlMessage>().initUnimplemented().setWhich(which);
  send(builder);
}

void ControlSession::handleHelloReply(wire::HelloReply::Reader reply) {
  if (state_ != State::AwaitHello) {
    drop("hello reply without a hello");
    return;
  }
  if (!reply.getAccepted()) {
    Result<std::string> reason = proto::readText(reply.getReason(), MAX_REASON, "reason");
    fatal_ = fmt::format("the daemon refused our hello (it speaks protocol {}): {}", reply.getProtocolVersion(),
                         reason ? *reason : reason.error().message);
    return;
  }
  capnp::MallocMessageBuilder builder;
  auto reg = builder.initRoot<wire::ControlMessage>().initRegister();
  reg.setName(text(options_.name));
  Result<proto::CurveKey> key = proto::decodeZ85Key(options_.keys.publicKey);
  if (key) reg.setPublicKey(proto::dataOf(*key));
  writeProfile(options_.profile, options_.profileMeasured, reg.initProfile());
  reg.setDataEndpoint(text(options_.dataEndpoint));
  send(builder);
  state_ = State::AwaitRegister;
}

void ControlSession::handleRegisterReply(wire::RegisterReply::Reader reply, ControlHandler& handler,
                                         Clock::time_point now) {
  if (state_ != State::AwaitRegister) {
    drop("register reply without a registration");
    return;
  }
  if (!reply.getAccepted()) {
    Result<std::string> reason = proto::readText(reply.getReason(), MAX_REASON, "reason");
    fatal_ = fmt::format("the daemon refused our registration: {}", reason ? *reason : reason.error().message);
    return;
  }
  heartbeatSeconds_ = interval(reply.getHeartbeatSeconds(), 0.25);
  telemetrySeconds_ = interval(reply.getTelemetrySeconds(), 1.0);
  const double stall = reply.getStallSeconds();
  stallSeconds_ = std::isfinite(stall) && stall > 0 ? std::clamp(stall, MIN_INTERVAL, 86400.0) : DEFAULT_STALL_SECONDS;
  state_ = State::Registered;
  nextHeartbeat_ = now;
  nextTelemetry_ = now + seconds(telemetrySeconds_);
  log_->info("registered with the daemon at {} (heartbeat {:g} s, telemetry {:g} s)", options_.daemonEndpoint,
             heartbeatSeconds_, telemetrySeconds_);
  const bool again = registeredBefore_;
  registeredBefore_ = true;
  handler.onRegistered(again);
}

void ControlSession::handleHeartbeat(wire::Heartbeat::Reader heartbeat, ControlHandler& handler) {
  if (state_ == State::Registered) handler.onDaemonEpoch(heartbeat.getEpoch());
}

void ControlSession::tick(ControlHandler& handler, Clock::time_point now) {
  if (fatal_) return;
  if (now - lastHeard_ >= DAEMON_SILENCE) {
    reRegister(now, fmt::format("no word from it for {} s", DAEMON_SILENCE.count()));
    return;
  }
  if (state_ != State::Registered) return;
  if (now >= nextHeartbeat_) {
    capnp::MallocMessageBuilder builder;
    auto beat = builder.initRoot<wire::ControlMessage>().initHeartbeat();
    beat.setSequence(++sequence_);
    beat.setEpoch(handler.runningEpoch());
    beat.setInFlight(handler.inFlight());
    beat.setStalled(text(clipped(handler.stalled(), MAX_REASON)));
    send(builder);
    // From now, not from the missed deadline: a stalled loop must not send a burst.
    nextHeartbeat_ = now + seconds(heartbeatSeconds_);
  }
  if (now >= nextTelemetry_) {
    for (const TelemetryReport& report : handler.telemetry()) {
      capnp::MallocMessageBuilder builder;
      auto telemetry = builder.initRoot<wire::ControlMessage>().initTelemetry();
      telemetry.setEpoch(report.epoch);
      const size_t linkCount = std::min<size_t>(report.links.size(), 64);
      auto links = telemetry.initLinks(static_cast<unsigned>(linkCount));
      for (size_t i = 0; i < linkCount; ++i) {
        const LinkReport& link = report.links[i];
        auto out = links[static_cast<unsigned>(i)];
        out.setPeer(link.peer);
        out.setBytesPerSecond(link.bytesPerSecond);
        out.setRttSeconds(link.rttSeconds);
        out.setSamples(link.samples);
        out.setSource(link.probe ? wire::LinkEstimate::Source::PROBE : wire::LinkEstimate::Source::PASSIVE);
      }
      const size_t count = std::min<size_t>(report.stages.size(), 64);
      auto stages = telemetry.initStages(static_cast<unsigned>(count));
      for (size_t i = 0; i < count; ++i) {
        auto out = stages[static_cast<unsigned>(i)];
        out.setStage(report.stages[i].stage);
        out.setRuns(report.stages[i].runs);
        out.setMeanSeconds(report.stages[i].meanSeconds);
        out.setMaxSeconds(report.stages[i].maxSeconds);
      }
      telemetry.setQueueDepth(report.queueDepth);
      send(builder);
    }
    nextTelemetry_ = now + seconds(telemetrySeconds_);
    lastTelemetry_ = now;
  }
}

void ControlSession::telemetrySoon(Clock::time_point now) {
  nextTelemetry_ = std::min(nextTelemetry_, std::max(now, lastTelemetry_ + MIN_TELEMETRY_GAP));
}

std::optional<Clock::time_point> ControlSession::nextDeadline() const {
  if (fatal_) return std::nullopt;
  Clock::time_point next = lastHeard_ + DAEMON_SILENCE;
  if (state_ == State::Registered) next = std::min({next, nextHeartbeat_, nextTelemetry_});
  return next;
}

void ControlSession::sendPlanAck(uint64_t epoch, bool accepted, const std::string& reason) {
  capnp::MallocMessageBuilder builder;
  auto ack = builder.initRoot<wire::ControlMessage>().initPlanAck();
  ack.setEpoch(epoch);
  ack.setAccepted(accepted);
  ack.setReason(text(clipped(reason, MAX_REASON)));
  send(builder);
}

void ControlSession::sendGraphRequest(const proto::ContentHash& hash) {
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::ControlMessage>().initGraphRequest().setHash(proto::dataOf(hash));
  send(builder);
}

void ControlSession::sendCompleted(uint64_t requestId, uint64_t epoch, const std::vector<proto::WireTensor>& outputs,
                                   uint32_t exitStage, const std::vector<std::string>& zeroedInputs) {
  capnp::MallocMessageBuilder builder;
  auto completed = builder.initRoot<wire::ControlMessage>().initCompleted();
  completed.setRequestId(requestId);
  completed.setEpoch(epoch);
  completed.setExitStage(exitStage);
  auto zeroed = completed.initZeroedInputs(static_cast<unsigned>(zeroedInputs.size()));
  for (size_t i = 0; i < zeroedInputs.size(); ++i) zeroed.set(static_cast<unsigned>(i), zeroedInputs[i]);
  auto headers = completed.initOutputs(static_cast<unsigned>(outputs.size()));
  std::vector<zmq::message_t> frames;
  for (size_t i = 0; i < outputs.size(); ++i) {
    Result<zmq::message_t> frame = proto::encodeTensor(outputs[i], headers[static_cast<unsigned>(i)]);
    if (!frame) {
      sendFailed(requestId, epoch, "output cannot be encoded: " + frame.error().message);
      return;
    }
    frames.push_back(std::move(*frame));
  }
  send(builder, std::move(frames));
}

void ControlSession::sendFailed(uint64_t requestId, uint64_t epoch, const std::string& reason) {
  capnp::MallocMessageBuilder builder;
  auto completed = builder.initRoot<wire::ControlMessage>().initCompleted();
  completed.setRequestId(requestId);
  completed.setEpoch(epoch);
  completed.setFailed(text(clipped(reason, MAX_REASON)));
  send(builder);
}

}  // namespace cleave::agent
