#include "agent/data_plane.h"

#include <capnp/message.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "agent/socket_io.h"
#include "proto/message_codec.h"

namespace cleave::agent {
namespace {

constexpr const char* ZAP_DOMAIN = "cleave-data";
constexpr size_t MAX_FAILURE_DETAIL = 256;
// Header frame plus one frame per tensor (a probe has one padding frame).
constexpr size_t extraFrames = 1;

using Seconds = std::chrono::duration<double>;

std::string utf8Prefix(std::string_view text, size_t maxBytes) {
  if (text.size() <= maxBytes) return std::string(text);
  size_t end = maxBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // not inside a character
  return std::string(text.substr(0, end));
}

zmq::message_t copyFrame(const zmq::message_t& frame) { return zmq::message_t(frame.data(), frame.size()); }

// The Z85 key that authenticated the connection a frame came on ("" when libzmq has none).
std::string userIdOf(const zmq::message_t& frame) {
  const char* value = zmq_msg_gets(frame.handle(), "User-Id");
  return value == nullptr ? std::string() : std::string(value);
}

// The expected type of each received tensor, in the order the header lists them, looked up by
// name among the stage's inputs.
// A stage that gathers its inputs from several senders takes any of them per message.
Result<std::vector<TensorType>> expectedByName(wire::Activations::Reader body, const std::vector<ValueInfo>& inputs,
                                               bool gathers) {
  auto headers = body.getTensors();
  if (gathers ? headers.size() > inputs.size() : headers.size() != inputs.size())
    return Error{fmt::format("{} tensors, the stage takes {}", headers.size(), inputs.size())};
  std::vector<TensorType> expected;
  for (auto header : headers) {
    Result<std::string> name = proto::readText(header.getName(), proto::MAX_TENSOR_NAME, "tensor name");
    if (!name) return name.error();
    auto it = std::find_if(inputs.begin(), inputs.end(), [&](const ValueInfo& v) { return v.name == *name; });
    if (it == inputs.end()) return Error{fmt::format("tensor '{}' is not an input of the stage", *name)};
    expected.push_back(it->type);
  }
  return expected;
}

uint64_t totalBytes(std::span<const zmq::message_t> frames) {
  uint64_t bytes = 0;
  for (const zmq::message_t& frame : frames) bytes += frame.size();
  return bytes;
}

}  // namespace

std::string_view failureReasonName(wire::Failure::Reason reason) {
  switch (reason) {
    case wire::Failure::Reason::BAD_MESSAGE:
      return "bad message";
    case wire::Failure::Reason::UNKNOWN_EPOCH:
      return "unknown epoch";
    case wire::Failure::Reason::UNKNOWN_STAGE:
      return "unknown stage";
    case wire::Failure::Reason::OVERLOADED:
      return "overloaded";
    case wire::Failure::Reason::STAGE_FAILED:
      return "stage failed";
    case wire::Failure::Reason::INCOMPLETE:
      return "incomplete inputs";
  }
  return "unknown reason";
}

Result<std::unique_ptr<DataPlane>> DataPlane::create(proto::ZapAuthenticator& zap, const proto::CurveKeyPair& own,
                                                     std::string self, const std::string& bindEndpoint,
                                                     const std::string& advertise, const proto::TensorLimits& limits,
                                                     std::shared_ptr<spdlog::logger> log) {
  std::unique_ptr<DataPlane> plane(new DataPlane(zap, own, std::move(self), limits, std::move(log)));
  proto::SocketOptions options;
  options.maxFrameBytes = static_cast<int64_t>(std::max<uint64_t>(limits.maxTensorBytes, 1 << 20));
  Result<zmq::socket_t> router =
      proto::makeCurveServer(zap, zmq::socket_type::router, own.secretKey, ZAP_DOMAIN, options);
  if (!router) return Error{"data plane: " + router.error().message};
  plane->router_ = std::move(*router);
  try {
    plane->router_.bind(bindEndpoint);
    plane->bound_ = plane->router_.get(zmq::sockopt::last_endpoint);
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("data plane: cannot bind {}: {}", bindEndpoint, e.what())};
  }
  plane->advertised_ = advertise.empty() ? plane->bound_ : advertise;
  return plane;
}

DataPlane::~DataPlane() {
  for (auto& [name, link] : links_) disconnect(*link);
}

uint64_t DataPlane::nextSentAt() {
  // Strictly increasing, so an ack's echo names exactly one sent message.
  lastSentAt_ = std::max(monotonicMicros(), lastSentAt_ + 1);
  return lastSentAt_;
}

Status DataPlane::connect(PeerLink& link) {
  proto::SocketOptions options;
  options.maxFrameBytes = static_cast<int64_t>(std::max<uint64_t>(limits_.maxTensorBytes, 1 << 20));
  const std::string serverKey = proto::encodeZ85Key(link.spec.publicKey);
  Result<zmq::socket_t> dealer =
      proto::makeCurveClient(zap_.context(), zmq::socket_type::dealer, own_, serverKey, options);
  if (!dealer) return Error{fmt::format("peer '{}': {}", link.spec.name, dealer.error().message)};
  const std::string monitorEndpoint = fmt::format("inproc://cleave-data-monitor-{}", ++monitorCounter_);
  try {
    if (zmq_socket_monitor(dealer->handle(), monitorEndpoint.c_str(),
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
      return Error{
          fmt::format("peer '{}': cannot monitor the connection: {}", link.spec.name, zmq_strerror(zmq_errno()))};
    zmq::socket_t monitor(zap_.context(), zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(monitorEndpoint);
    dealer->connect(link.spec.dataEndpoint);
    link.dealer = std::move(*dealer);
    link.monitor = std::move(monitor);
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("peer '{}': cannot connect to {}: {}", link.spec.name, link.spec.dataEndpoint, e.what())};
  }
  return {};
}

void DataPlane::disconnect(PeerLink& link) {
  if (link.dealer.handle() != nullptr) {
    zmq_socket_monitor(link.dealer.handle(), nullptr, 0);
    link.dealer.close();
  }
  if (link.monitor.handle() != nullptr) link.monitor.close();
}

void DataPlane::setPeers(const std::map<std::string, proto::PeerSpec>& peers) {
  for (auto it = links_.begin(); it != links_.end();) {
    auto wanted = peers.find(it->first);
    if (wanted == peers.end() || !(wanted->second == it->second->spec)) {
      disconnect(*it->second);
      it = links_.erase(it);
    } else {
      ++it;
    }
  }
  nameByKey_.clear();
  for (const auto& [name, spec] : peers) {
    nameByKey_[proto::encodeZ85Key(spec.publicKey)] = name;
    if (links_.contains(name)) continue;
    auto link = std::make_unique<PeerLink>();
    link->spec = spec;
    if (Status ok = connect(*link); !ok) {
      log_->error("data plane: {}", ok.error().message);
      continue;
    }
    links_.emplace(name, std::move(link));
  }
}

Status DataPlane::transmit(PeerLink& link, Unacked& entry) {
  entry.sentAtMicros = nextSentAt();
  entry.message.sentAtMicros = entry.sentAtMicros;
  entry.expectedAt = Clock::now();
  Result<std::vector<zmq::message_t>> frames = proto::encodeTensorMessage(entry.message);
  if (!frames) return frames.error();
  return sendMessage(link.dealer, *frames);
}

Status DataPlane::handOver(PeerLink& link, std::vector<zmq::message_t> frames, Clock::time_point now) {
  link.lastActivity = now;
  link.lastReleaseAt = now;
  auto shaper = shapers_.find(link.spec.name);
  if (shaper == shapers_.end() && link.held.empty()) return sendMessage(link.dealer, frames);
  Clock::time_point releaseAt = shaper == shapers_.end() ? now : shaper->second.admit(totalBytes(frames), now);
  link.lastReleaseAt = releaseAt;
  link.held.push_back({releaseAt, std::move(frames)});
  releaseHeld(link, now);
  return {};
}

void DataPlane::releaseHeld(PeerLink& link, Clock::time_point now) {
  while (!link.held.empty() && link.held.front().releaseAt <= now) {
    if (Status sent = sendMessage(link.dealer, link.held.front().frames); !sent) ++counters_.sendErrors;
    link.held.pop_front();
  }
}

Status DataPlane::sendProbe(PeerLink& link, uint32_t paddingBytes, Clock::time_point now) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<wire::DataMessage>();
  root.setVersion(wire::PROTOCOL_VERSION);
  const uint64_t sentAt = nextSentAt();
  auto probe = root.initProbe();
  probe.setSentAtMicros(sentAt);
  probe.setPaddingBytes(paddingBytes);
  std::vector<zmq::message_t> frames;
  frames.push_back(proto::encodeMessage(builder));
  zmq::message_t padding(paddingBytes);
  std::memset(padding.data(), 0, paddingBytes);
  frames.push_back(std::move(padding));
  link.probes[sentAt] = {totalBytes(frames), now};
  return handOver(link, std::move(frames), now);
}

void DataPlane::probeIfDue(PeerLink& link, Clock::time_point now, bool behindRequest) {
  if (link.rebuildAt || bandwidthProbeOut(link) || now < nextProbeAt(link)) return;
  if (!behindRequest && now < link.lastRequest + PROBE_INTERVAL) return;  // wait for the next request
  double rate = 0.0;
  if (auto it = estimators_.find(link.spec.name); it != estimators_.end())
    if (std::optional<LinkEstimate> e = it->second.estimate()) rate = e->bytesPerSecond;
  const double bytes = rate > 0 ? rate * PROBE_SECONDS : 16384.0;
  const auto padding = static_cast<uint32_t>(
      std::clamp(bytes, static_cast<double>(MIN_PROBE_BYTES), static_cast<double>(MAX_PROBE_BYTES)));
  link.lastTimed = now;
  link.probeGap = std::chrono::duration<double>(rate > 0 ? padding / rate / PROBE_SHARE : 0.0);
  if (Status ok = sendProbe(link, RTT_PROBE_BYTES, now); !ok) return;
  (void)sendProbe(link, padding, now);
}

Clock::time_point DataPlane::nextProbeAt(const PeerLink& link) const {
  return link.lastTimed + std::max<Clock::duration>(
                              PROBE_INTERVAL, std::chrono::duration_cast<Clock::duration>(link.probeGap));
}

Clock::time_point DataPlane::nextLoneProbeAt(const PeerLink& link) const {
  return std::max(nextProbeAt(link), link.lastRequest + PROBE_INTERVAL);
}

Status DataPlane::sendTensorMessage(const std::string& peer, proto::TensorMessage message) {
  auto it = links_.find(peer);
  if (it == links_.end()) {
    ++counters_.sendErrors;
    return Error{fmt::format("no connection to '{}' (not a peer of a kept epoch)", peer)};
  }
  PeerLink& link = *it->second;
  const Clock::time_point now = Clock::now();
  Unacked entry{0, std::move(message), now, now, 0};
  entry.sentAtMicros = nextSentAt();
  entry.message.sentAtMicros = entry.sentAtMicros;
  if (!link.rebuildAt) {
    // The connection waits to be rebuilt: the message goes out with the resend then.
    Result<std::vector<zmq::message_t>> frames = proto::encodeTensorMessage(entry.message);
    if (!frames) {
      ++counters_.sendErrors;
      return Error{fmt::format("to '{}': {}", peer, frames.error().message)};
    }
    // A tiny probe ahead of each transfer times the RTT on its own (the estimator drops the
    // sample when something was still ahead of it on the link).
    if (!busy(link)) (void)sendProbe(link, RTT_PROBE_BYTES, now);
    entry.bytes = totalBytes(*frames);
    if (Status sent = handOver(link, std::move(*frames), now); !sent) {
      ++counters_.sendErrors;
      return Error{fmt::format("to '{}': {}", peer, sent.error().message)};
    }
    entry.expectedAt = link.lastReleaseAt;
    probeIfDue(link, now, true);
    link.lastRequest = now;
  }
  if (link.unacked.size() == MAX_UNACKED_PER_PEER) link.unacked.pop_front();
  link.unacked.push_back(std::move(entry));
  return {};
}

Status DataPlane::sendFailure(const std::string& peer, uint64_t requestId, uint64_t epoch, wire::Failure::Reason reason,
                              std::string_view detail) {
  auto it = links_.find(peer);
  if (it == links_.end()) {
    ++counters_.sendErrors;
    return Error{fmt::format("no connection to '{}'", peer)};
  }
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<wire::DataMessage>();
  root.setVersion(wire::PROTOCOL_VERSION);
  root.setRequestId(requestId);
  root.setEpoch(epoch);
  auto failure = root.initFailure();
  failure.setReason(reason);
  const std::string text = utf8Prefix(detail, MAX_FAILURE_DETAIL);
  failure.setDetail(capnp::Text::Reader(text.data(), text.size()));
  std::vector<zmq::message_t> frames;
  frames.push_back(proto::encodeMessage(builder));
  if (Status sent = handOver(*it->second, std::move(frames), Clock::now()); !sent) {
    ++counters_.sendErrors;
    return sent;
  }
  ++counters_.failuresSent;
  return {};
}

void DataPlane::addPollItems(std::vector<zmq::pollitem_t>& items) {
  polled_.clear();
  polled_.push_back({"", false, router_.handle()});
  for (auto& [name, link] : links_) {
    if (link->dealer.handle() == nullptr) continue;
    polled_.push_back({name, false, link->dealer.handle()});
    polled_.push_back({name, true, link->monitor.handle()});
  }
  for (const PollEntry& entry : polled_) items.push_back({entry.handle, 0, ZMQ_POLLIN, 0});
}

void DataPlane::handlePolled(std::span<const zmq::pollitem_t> items, DataHandler& handler) {
  for (size_t i = 0; i < items.size() && i < polled_.size(); ++i) {
    if (!(items[i].revents & ZMQ_POLLIN)) continue;
    const PollEntry& entry = polled_[i];
    if (entry.peer.empty()) {
      readRouter(handler);
      continue;
    }
    // The handler may have changed the peer set since the poll: use only a socket still there.
    auto it = links_.find(entry.peer);
    if (it == links_.end()) continue;
    PeerLink& link = *it->second;
    if (entry.monitor && link.monitor.handle() == entry.handle) readMonitor(link);
    if (!entry.monitor && link.dealer.handle() == entry.handle) readDealer(link, handler);
  }
}

void DataPlane::drop(const std::string& from, const std::string& why) {
  ++counters_.dropped;
  log_->warn("dropped a data message from {}: {}", from.empty() ? std::string("an unknown peer") : from, why);
}

void DataPlane::reply(const zmq::message_t& routingId, zmq::message_t header, const std::string& sender) {
  std::vector<zmq::message_t> frames;
  frames.push_back(copyFrame(routingId));
  frames.push_back(std::move(header));
  // A shaped link back to the sender delays the ack by its one-way delay, so the sender times
  // the whole round trip (the shaper charged the other half on the way here).
  if (auto shaper = shapers_.find(sender); shaper != shapers_.end()) {
    const Clock::time_point now = Clock::now();
    const double oneWay = shaper->second.rttSecondsAt(now) / 2;
    if (oneWay > 0) {
      heldAcks_.push_back({now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(oneWay)),
                           std::move(frames)});
      return;
    }
  }
  (void)sendMessage(router_, frames);  // a peer gone meanwhile: nothing to tell
}

void DataPlane::readRouter(DataHandler& handler) {
  for (size_t n = 0; n < MAX_READS_PER_POLL; ++n) {
    std::optional<ReceivedMessage> message = receiveMessage(router_, 2 + limits_.maxTensors + extraFrames);
    if (!message) return;
    ++counters_.received;
    std::vector<zmq::message_t>& frames = message->frames;
    const std::string key = frames.size() > 1 ? userIdOf(frames[1]) : std::string();
    auto known = nameByKey_.find(key);
    std::string sender = known != nameByKey_.end() ? known->second : std::string();
    if (sender.empty() && !key.empty()) {
      // Admitted under an allow-list since replaced: still a peer of an older plan, name unknown.
      Result<std::string> fingerprint = proto::keyFingerprint(key);
      sender = fmt::format("key {}", fingerprint ? *fingerprint : std::string("?"));
      if (clientKeys_.contains(key)) {
        drop(sender, "a local client's key (clients use the client socket)");
        continue;
      }
    }
    if (message->truncated) {
      drop(sender, fmt::format("more than {} frames", 2 + limits_.maxTensors + extraFrames));
      continue;
    }
    if (frames.size() < 2) {
      drop(sender, "no header frame");
      continue;
    }
    Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames[1], limits_.header);
    if (!decoded) {
      drop(sender, "header: " + decoded.error().message);
      continue;
    }
    Result<wire::DataMessage::Reader> root = decoded->root<wire::DataMessage>();
    if (!root) {
      drop(sender, "header: " + root.error().message);
      continue;
    }
    const uint64_t receivedBytes = totalBytes(std::span<const zmq::message_t>(frames).subspan(1));
    Status handled = proto::decodeGuard("data message", [&]() -> Status {
      wire::DataMessage::Reader header = *root;
      if (header.getVersion() != wire::PROTOCOL_VERSION)
        return Error{
            fmt::format("protocol version {}, this agent speaks {}", header.getVersion(), wire::PROTOCOL_VERSION)};
      switch (header.which()) {
        case wire::DataMessage::ACTIVATIONS:
        case wire::DataMessage::RESULT:
          handleTensorMessage(frames[0], sender, header, std::span<const zmq::message_t>(frames).subspan(2),
                              receivedBytes, handler);
          return {};
        case wire::DataMessage::PROBE: {
          capnp::MallocMessageBuilder builder;
          auto ack = builder.initRoot<wire::DataMessage>();
          ack.setVersion(wire::PROTOCOL_VERSION);
          auto body = ack.initAck();
          body.setEchoSentAtMicros(header.getProbe().getSentAtMicros());
          body.setReceivedBytes(receivedBytes);
          reply(frames[0], proto::encodeMessage(builder), sender);
          return {};
        }
        case wire::DataMessage::FAILURE: {
          Result<std::string> detail = proto::readText(header.getFailure().getDetail(), MAX_FAILURE_DETAIL, "detail");
          if (!detail) return detail.error();
          handler.onFailure(header.getRequestId(), header.getEpoch(), header.getFailure().getReason(), *detail, sender);
          return {};
        }
        case wire::DataMessage::ACK:
          return Error{"an ack on the receiving socket (acks answer this agent's own sends)"};
        default:
          return Error{fmt::format("unknown data message kind {}", static_cast<uint16_t>(header.which()))};
      }
    });
    if (!handled) drop(sender, handled.error().message);
  }
}

void DataPlane::handleTensorMessage(const zmq::message_t& routingId, const std::string& sender,
                                    wire::DataMessage::Reader header, std::span<const zmq::message_t> frames,
                                    uint64_t receivedBytes, DataHandler& handler) {
  const bool isResult = header.which() == wire::DataMessage::RESULT;
  wire::Activations::Reader body = isResult ? header.getResult() : header.getActivations();
  const uint64_t requestId = header.getRequestId();
  const uint64_t epoch = header.getEpoch();
  const uint32_t stage = body.getStage();
  Result<std::string> origin = proto::readText(body.getOrigin(), proto::MAX_ORIGIN_NAME, "origin");

  // Acknowledge receipt first: the sender times the transfer, whatever becomes of the request.
  capnp::MallocMessageBuilder builder;
  auto ackMessage = builder.initRoot<wire::DataMessage>();
  ackMessage.setVersion(wire::PROTOCOL_VERSION);
  ackMessage.setRequestId(requestId);
  ackMessage.setEpoch(epoch);
  auto ack = ackMessage.initAck();
  ack.setEchoSentAtMicros(body.getSentAtMicros());
  ack.setReceivedBytes(receivedBytes);
  ack.setStage(stage);
  reply(routingId, proto::encodeMessage(builder), sender);

  if (!origin) {
    drop(sender, origin.error().message);
    return;
  }
  if (isResult) {
    if (*origin != self_) {
      drop(sender, fmt::format("result of request {} for origin '{}', not this agent", requestId, *origin));
      return;
    }
    Result<proto::TensorMessage> message = proto::decodeTensorMessage(header, frames, limits_);
    if (!message) {
      drop(sender, fmt::format("result of request {}: {}", requestId, message.error().message));
      return;
    }
    handler.onResult(std::move(*message), sender);
    return;
  }

  DataHandler::StageLookup lookup = handler.lookupStage(epoch, stage);
  Result<proto::TensorMessage> message = Error{""};
  switch (lookup.status) {
    case DataHandler::StageStatus::UnknownEpoch:
      failToOrigin(*origin, requestId, epoch, wire::Failure::Reason::UNKNOWN_EPOCH,
                   fmt::format("'{}' keeps no stages of epoch {}", self_, epoch), handler);
      return;
    case DataHandler::StageStatus::UnknownStage:
      failToOrigin(*origin, requestId, epoch, wire::Failure::Reason::UNKNOWN_STAGE,
                   fmt::format("'{}' does not run stage {} under epoch {}", self_, stage, epoch), handler);
      return;
    case DataHandler::StageStatus::FutureEpoch:
      message = proto::decodeTensorMessage(header, frames, limits_);
      break;
    case DataHandler::StageStatus::Ready: {
      Result<std::vector<TensorType>> expected = expectedByName(body, *lookup.inputs, lookup.gathers);
      message = expected ? proto::decodeTensorMessage(header, frames, limits_, *expected)
                         : Result<proto::TensorMessage>(expected.error());
      break;
    }
  }
  if (!message) {
    const std::string detail = fmt::format("stage {} inputs: {}", stage, message.error().message);
    log_->warn("request {} from {}: refused {}", requestId, sender, detail);
    failToOrigin(*origin, requestId, epoch, wire::Failure::Reason::BAD_MESSAGE, detail, handler);
    return;
  }
  handler.onActivations(std::move(*message), sender);
}

void DataPlane::failToOrigin(const std::string& origin, uint64_t requestId, uint64_t epoch,
                             wire::Failure::Reason reason, const std::string& detail, DataHandler& handler) {
  if (reason != wire::Failure::Reason::BAD_MESSAGE)  // bad messages were logged with their details
    log_->warn("request {} (origin {}): {}: {}", requestId, origin, failureReasonName(reason), detail);
  if (origin == self_) {
    handler.onFailure(requestId, epoch, reason, detail, self_);
    return;
  }
  if (Status sent = sendFailure(origin, requestId, epoch, reason, detail); !sent) {
    // The origin is not among our peers (a middle stage of a long route): its own timer re-runs it.
    ++counters_.dropped;
    log_->warn("request {}: cannot report '{}' to its origin '{}': {}", requestId, failureReasonName(reason), origin,
               sent.error().message);
  }
}

void DataPlane::readDealer(PeerLink& link, DataHandler& handler) {
  for (size_t n = 0; n < MAX_READS_PER_POLL; ++n) {
    std::optional<ReceivedMessage> message = receiveMessage(link.dealer, 2);
    if (!message) return;
    ++counters_.received;
    if (message->truncated || message->frames.size() != 1) {
      drop(link.spec.name, "an ack or failure has exactly one frame");
      continue;
    }
    Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(message->frames[0], limits_.header);
    if (!decoded) {
      drop(link.spec.name, "header: " + decoded.error().message);
      continue;
    }
    Result<wire::DataMessage::Reader> root = decoded->root<wire::DataMessage>();
    if (!root) {
      drop(link.spec.name, "header: " + root.error().message);
      continue;
    }
    Status handled = proto::decodeGuard("data reply", [&]() -> Status {
      wire::DataMessage::Reader header = *root;
      if (header.getVersion() != wire::PROTOCOL_VERSION)
        return Error{
            fmt::format("protocol version {}, this agent speaks {}", header.getVersion(), wire::PROTOCOL_VERSION)};
      switch (header.which()) {
        case wire::DataMessage::ACK:
          handleAck(link, header.getAck());
          return {};
        case wire::DataMessage::FAILURE: {
          Result<std::string> detail = proto::readText(header.getFailure().getDetail(), MAX_FAILURE_DETAIL, "detail");
          if (!detail) return detail.error();
          handler.onFailure(header.getRequestId(), header.getEpoch(), header.getFailure().getReason(), *detail,
                            link.spec.name);
          return {};
        }
        default:
          return Error{
              fmt::format("data message kind {} on a sending connection", static_cast<uint16_t>(header.which()))};
      }
    });
    if (!handled) drop(link.spec.name, handled.error().message);
  }
}

void DataPlane::handleAck(PeerLink& link, wire::TransferAck::Reader ack) {
  const uint64_t echo = ack.getEchoSentAtMicros();
  const uint64_t now = monotonicMicros();
  link.lastActivity = Clock::now();
  link.lastAckAt = link.lastActivity;
  link.stallsInARow = 0;
  LinkEstimator& estimator = estimators_[link.spec.name];
  auto timed = [&](bool probe) {
    estimator.onAck(static_cast<double>(echo) * 1e-6, static_cast<double>(now) * 1e-6, ack.getReceivedBytes(), probe);
  };
  if (auto probe = link.probes.find(echo); probe != link.probes.end()) {
    link.probes.erase(probe);
    const std::optional<LinkEstimate> before = estimator.estimate();
    timed(true);
    const std::optional<LinkEstimate> after = estimator.estimate();
    if (before && after && !bandwidthProbeOut(link)) {
      const double moved = after->bytesPerSecond / before->bytesPerSecond;
      if (moved > PROBE_FOLLOW_UP_FACTOR || moved < 1 / PROBE_FOLLOW_UP_FACTOR) {
        link.lastTimed = Clock::time_point{};  // probe again now, sized on the new estimate
        link.probeGap = std::chrono::duration<double>(0);
      }
    }
    return;
  }
  auto it = std::find_if(link.unacked.begin(), link.unacked.end(),
                         [&](const Unacked& entry) { return entry.sentAtMicros == echo; });
  if (it == link.unacked.end()) return;  // a duplicate ack, or one for a message given up on
  ++counters_.acksReceived;
  const double seconds = now > echo ? static_cast<double>(now - echo) * 1e-6 : 0.0;
  link.stats.acks += 1;
  link.stats.bytes += ack.getReceivedBytes();
  link.stats.ackSeconds += seconds;
  link.stats.maxAckSeconds = std::max(link.stats.maxAckSeconds, seconds);
  link.unacked.erase(it);
  if (ack.getReceivedBytes() > LinkEstimator::SMALL_BYTES) link.lastTimed = link.lastActivity;
  timed(false);
}

void DataPlane::readMonitor(PeerLink& link) {
  for (size_t n = 0; n < MAX_READS_PER_POLL; ++n) {
    std::optional<ReceivedMessage> event = receiveMessage(link.monitor, 2);
    if (!event) return;
    if (event->frames.empty() || event->frames[0].size() < 6) continue;
    uint16_t id = 0;
    uint32_t value = 0;
    std::memcpy(&id, event->frames[0].data(), sizeof id);
    std::memcpy(&value, static_cast<const char*>(event->frames[0].data()) + 2, sizeof value);
    if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      if (link.reportedFailure) log_->info("data plane: connected to '{}' after refusals", link.spec.name);
      link.backoff = MIN_BACKOFF;
      link.reportedFailure = false;
      continue;
    }
    // A failed handshake: libzmq will not try again on its own, so rebuild after a backoff (the
    // peer may still be loading the plan that admits us).
    ++counters_.handshakeFailures;
    if (!link.reportedFailure)
      log_->warn("data plane: '{}' at {} refused the handshake ({}{}); retrying", link.spec.name,
                 link.spec.dataEndpoint, id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? "ZAP status " : "error ", value);
    link.reportedFailure = true;
    if (!link.rebuildAt) link.rebuildAt = Clock::now() + link.backoff;
    link.backoff = std::min(MAX_BACKOFF, link.backoff * 2);
  }
}

void DataPlane::tick(Clock::time_point now) {
  while (!heldAcks_.empty() && heldAcks_.front().releaseAt <= now) {
    (void)sendMessage(router_, heldAcks_.front().frames);
    heldAcks_.pop_front();
  }
  for (auto& [name, link] : links_) {
    while (!link->unacked.empty() && now - link->unacked.front().firstSent > UNACKED_EXPIRY) link->unacked.pop_front();
    std::erase_if(link->probes, [&](const auto& probe) { return now - probe.second.sent > PROBE_EXPIRY; });
    releaseHeld(*link, now);
    if (std::optional<Clock::time_point> overdue = ackOverdueAt(*link); !link->rebuildAt && overdue && *overdue <= now) {
      const Unacked& oldest = link->unacked.front();
      ++counters_.stalls;
      ++link->stallsInARow;
      log_->warn(
          "data plane: no ack from '{}' for request {} (epoch {}, stage {}) {:.1f} s after it left, and none for "
          "anything since; rebuilding the connection and sending {} message(s) again (stall {} in a row)",
          name, oldest.message.requestId, oldest.message.epoch, oldest.message.stage,
          std::chrono::duration<double>(now - oldest.expectedAt).count(), link->unacked.size(), link->stallsInARow);
      link->rebuildAt = now;
    }
    if (!link->rebuildAt) {
      probeIfDue(*link, now, false);
      continue;
    }
    if (*link->rebuildAt > now) continue;
    link->rebuildAt.reset();
    disconnect(*link);
    link->held.clear();  // what the shaper held goes out with the resend, unshaped
    link->probes.clear();
    if (Status ok = connect(*link); !ok) {
      log_->error("data plane: {}", ok.error().message);
      link->rebuildAt = now + link->backoff;
      continue;
    }
    for (Unacked& entry : link->unacked) {
      if (Status sent = transmit(*link, entry); !sent) {
        ++counters_.sendErrors;
        continue;
      }
      ++counters_.resent;
    }
  }
}

Clock::duration DataPlane::ackWait(const PeerLink& link, const Unacked& entry) const {
  double expected = 0.0;  // seconds the link estimate says the message and its ack take
  if (auto it = estimators_.find(link.spec.name); it != estimators_.end())
    if (std::optional<LinkEstimate> e = it->second.estimate(); e && e->bytesPerSecond > 0)
      expected = e->rttSeconds + static_cast<double>(entry.bytes) / e->bytesPerSecond;
  const double doubling = static_cast<double>(1 << std::min(link.stallsInARow, 5));
  const double seconds = std::max(Seconds(MIN_ACK_WAIT).count(), ACK_WAIT_FACTOR * expected) * doubling;
  return std::chrono::duration_cast<Clock::duration>(Seconds(std::min(seconds, Seconds(MAX_ACK_WAIT).count())));
}

std::optional<Clock::time_point> DataPlane::ackOverdueAt(const PeerLink& link) const {
  if (link.unacked.empty()) return std::nullopt;
  const Unacked& oldest = link.unacked.front();
  // An ack for anything since the oldest left says the link moves (that message may simply have
  // been refused by the peer, which never acks a message it drops).
  return std::max(oldest.expectedAt, link.lastAckAt) + ackWait(link, oldest);
}

std::optional<Clock::time_point> DataPlane::nextDeadline() const {
  std::optional<Clock::time_point> next;
  auto consider = [&](Clock::time_point t) {
    if (!next || t < *next) next = t;
  };
  if (!heldAcks_.empty()) consider(heldAcks_.front().releaseAt);
  for (const auto& [name, link] : links_) {
    if (link->rebuildAt) consider(*link->rebuildAt);
    if (!link->unacked.empty()) consider(link->unacked.front().firstSent + UNACKED_EXPIRY);
    if (!link->rebuildAt)
      if (std::optional<Clock::time_point> overdue = ackOverdueAt(*link)) consider(*overdue);
    if (!link->held.empty()) consider(link->held.front().releaseAt);
    if (!link->rebuildAt && !bandwidthProbeOut(*link)) consider(nextLoneProbeAt(*link));
    for (const auto& [sentAt, probe] : link->probes) consider(probe.sent + PROBE_EXPIRY);
  }
  return next;
}

std::map<std::string, LinkStats> DataPlane::takeLinkStats() {
  std::map<std::string, LinkStats> out;
  for (auto& [name, link] : links_) {
    if (link->stats.acks > 0) out[name] = link->stats;
    link->stats = LinkStats{};
  }
  return out;
}

void DataPlane::setShaper(const std::string& peer, std::optional<LinkShaper> shaper) {
  if (shaper)
    shapers_.insert_or_assign(peer, std::move(*shaper));
  else
    shapers_.erase(peer);
}

std::optional<double> DataPlane::shapedBytesPerSecond(const std::string& peer, Clock::time_point now) const {
  auto it = shapers_.find(peer);
  if (it == shapers_.end()) return std::nullopt;
  return it->second.bytesPerSecondAt(now);
}

std::map<std::string, LinkEstimate> DataPlane::linkEstimates() const {
  std::map<std::string, LinkEstimate> out;
  for (const auto& [peer, estimator] : estimators_)
    if (std::optional<LinkEstimate> e = estimator.estimate()) out[peer] = *e;
  return out;
}

bool DataPlane::estimatesChanged(double fraction) const {
  return std::any_of(estimators_.begin(), estimators_.end(),
                     [&](const auto& entry) { return entry.second.changedSinceReport(fraction); });
}

std::map<std::string, LinkEstimate> DataPlane::takeLinkReport() {
  std::map<std::string, LinkEstimate> out;
  for (auto& [peer, estimator] : estimators_) {
    std::optional<LinkEstimate> e = estimator.estimate();
    if (!e) continue;
    e->samples = estimator.takeSamples();
    estimator.markReported();
    out[peer] = *e;
  }
  return out;
}

size_t DataPlane::unackedCount() const {
  size_t count = 0;
  for (const auto& [name, link] : links_) count += link->unacked.size();
  return count;
}

}  // namespace cleave::agent
