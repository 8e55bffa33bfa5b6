#include "daemon/daemon.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <capnp/message.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "daemon/fleet_planning.h"
#include "daemon/profile_message.h"
#include "planner/units.h"
#include "proto/message_codec.h"
#include "proto/multipart.h"

namespace cleave::daemon {
namespace {

constexpr size_t MAX_NAME = 64;
constexpr size_t MAX_ENDPOINT = 256;
constexpr size_t MAX_FRAMES = 1 + 16;  // a header and at most 16 tensors
// An origin runs a request again after this long without a result (OriginRequests::RERUN_AFTER,
// docs/protocol.md), so no attempt under an older plan is in flight longer than that.
constexpr double ORIGIN_RERUN_SECONDS = 10.0;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string lastEndpoint(zmq::socket_t& socket) { return socket.get(zmq::sockopt::last_endpoint); }

// Endpoints as cleavectl up reads them; written whole or not at all.
Status writeEndpointsFile(const std::string& path, const std::string& control, const std::string& operators) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << "control=" << control << "\noperator=" << operators << "\n";
    if (!out) return Error{fmt::format("{}: cannot write", tmp)};
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Error{fmt::format("{}: cannot rename into place: {}", path, ec.message())};
  return {};
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::create(const DaemonOptions& options) {
  std::unique_ptr<Daemon> d(new Daemon());
  Result<config::FleetConfig> config = config::loadFleetConfig(options.configPath, options.modelOverride);
  if (!config) return config.error();
  d->config_ = std::move(*config);
  d->links_ = LinkTable(d->config_.problem.fleet);
  d->switch_ = planner::PlanSwitch(d->config_.topology.planner.hysteresis, d->config_.topology.planner.holdSeconds);
  d->keysDir_ = options.keysDir.empty() ? d->config_.topology.keysDir : options.keysDir;

  Result<proto::CurveKeyPair> keys = proto::readKeyFiles(d->keysDir_, "daemon");
  if (!keys) return Error{fmt::format("the daemon's key pair: {}", keys.error().message)};
  d->daemonKeys_ = *keys;
  for (const planner::DeviceProfile& device : d->config_.topology.fleet.devices) {
    AgentRecord record;
    record.name = device.name;
    record.profile = device;
    std::string path = proto::keyFilePaths(d->keysDir_, device.name).publicPath;
    if (Result<std::string> key = proto::readPublicKeyFile(path)) {
      record.publicKeyZ85 = *key;
      record.fingerprint = *proto::keyFingerprint(*key);
    } else {
      spdlog::warn("[{}] no public key ({}); this agent cannot join", device.name, key.error().message);
    }
    d->registry_.add(std::move(record));
  }
  for (const std::string& name : d->config_.topology.operators) {
    std::string path = proto::keyFilePaths(d->keysDir_, name).publicPath;
    if (Result<std::string> key = proto::readPublicKeyFile(path)) d->operatorKeys_.insert(*key);
    else spdlog::warn("operator '{}': {}", name, key.error().message);
  }
  CLEAVE_TRY(d->bind(options));
  return d;
}

Daemon::~Daemon() = default;

Status Daemon::bind(const DaemonOptions& options) {
  Result<proto::ZapAuthenticator> zap = proto::ZapAuthenticator::create(context_);
  if (!zap) return zap.error();
  zap_.emplace(std::move(*zap));
  std::set<std::string> allowed = operatorKeys_;
  for (const AgentRecord& a : registry_.all())
    if (!a.publicKeyZ85.empty()) allowed.insert(a.publicKeyZ85);
  CLEAVE_TRY(zap_->setAllowed(allowed));

  Result<zmq::socket_t> control = proto::makeCurveServer(*zap_, zmq::socket_type::router, daemonKeys_.secretKey, "control");
  if (!control) return control.error();
  Result<zmq::socket_t> ops = proto::makeCurveServer(*zap_, zmq::socket_type::router, daemonKeys_.secretKey, "operator");
  if (!ops) return ops.error();
  control_ = std::move(*control);
  operator_ = std::move(*ops);
  // Sends to an operator that has gone fail instead of vanishing, so its watch can be dropped.
  operator_.set(zmq::sockopt::router_mandatory, 1);
  std::string controlAt = options.controlEndpoint.empty() ? config_.topology.daemonEndpoint : options.controlEndpoint;
  std::string operatorAt = options.operatorEndpoint.empty() ? config_.topology.operatorEndpoint : options.operatorEndpoint;
  try {
    control_.bind(controlAt);
    operator_.bind(operatorAt);
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot bind {} / {}: {}", controlAt, operatorAt, e.what())};
  }
  spdlog::info("fleet '{}': control {}, operator {}, model {} ({} nodes), {} agents known",
               config_.topology.name, lastEndpoint(control_), lastEndpoint(operator_), config_.bundle.name,
               config_.problem.model.nodes.size(), registry_.all().size());
  if (!options.endpointsFile.empty())
    CLEAVE_TRY(writeEndpointsFile(options.endpointsFile, lastEndpoint(control_), lastEndpoint(operator_)));
  return {};
}

void Daemon::run(const std::atomic<bool>& stop) {
  auto heartbeat = std::chrono::duration<double>(config_.topology.heartbeatSeconds);
  int pollMs = std::max(10, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(heartbeat).count()));
  while (!stop.load()) {
    std::array<zmq::pollitem_t, 3> items{{{zap_->socket().handle(), 0, ZMQ_POLLIN, 0},
                                          {control_.handle(), 0, ZMQ_POLLIN, 0},
                                          {operator_.handle(), 0, ZMQ_POLLIN, 0}}};
    try {
      int waitMs = pollMs;
      if (std::optional<double> since = switch_.betterSince()) {  // wake when the hold ends
        double left = *since + config_.topology.planner.holdSeconds - secondsSince(started_);
        waitMs = std::clamp(static_cast<int>(std::ceil(left * 1e3)), 1, pollMs);
      }
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(waitMs));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      throw;
    }
    if (items[0].revents & ZMQ_POLLIN) {
      zap_->handlePending();
      reportRefusals();
    }
    // Bounded batches so one busy socket cannot starve the other or the timers.
    for (auto [socket, ready, handler] : {std::tuple{&control_, items[1].revents & ZMQ_POLLIN, &Daemon::onControl},
                                          std::tuple{&operator_, items[2].revents & ZMQ_POLLIN, &Daemon::onOperator}}) {
      for (int i = 0; i < 256 && ready; ++i) {
        Frames frames;
        proto::Received got = proto::receiveMultipart(*socket, frames, 2 + MAX_FRAMES);
        if (got == proto::Received::Nothing) break;
        if (got == proto::Received::TooManyFrames) ++counters_.badMessages;
        else (this->*handler)(frames);
      }
    }
    onTimers();
  }
  spdlog::info("daemon stopping: {} requests, {} results, {} re-plans", counters_.requests, counters_.results,
               counters_.replans);
}

bool Daemon::send(zmq::socket_t& socket, const std::string& id, capnp::MessageBuilder& message, Frames extra) {
  try {
    socket.send(zmq::buffer(id), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
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

// ---------------------------------------------------------------------------------------------
// Control plane

std::optional<proto::DecodedMessage> Daemon::decodeFrames(const Frames& frames) {
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

void Daemon::onControl(Frames& frames) {
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
    wire::ControlMessage::Reader message = *root;
    if (message.isHello()) {
      handleHello(id, message.getHello(), false);
      return {};
    }
    if (message.isRegister()) {
      if (!helloedControl_.count(id)) return Error{"register before hello"};
      handleRegister(id, message.getRegister(), userId);
      return {};
    }
    AgentRecord* agent = registry_.findByRoutingId(id);
    if (!agent) return Error{"message from an unregistered connection"};
    agent->lastSeen = Clock::now();
    switch (message.which()) {
      case wire::ControlMessage::HEARTBEAT: handleHeartbeat(*agent, message.getHeartbeat()); break;
      case wire::ControlMessage::TELEMETRY: handleTelemetry(*agent, message.getTelemetry()); break;
      case wire::ControlMessage::PLAN_ACK: handlePlanAck(*agent, message.getPlanAck()); break;
      case wire::ControlMessage::GRAPH_REQUEST: handleGraphRequest(*agent, message.getGraphRequest()); break;
      case wire::ControlMessage::COMPLETED: handleCompleted(*agent, message.getCompleted(), rest); break;
      case wire::ControlMessage::UNIMPLEMENTED: break;
      default: {
        capnp::MallocMessageBuilder reply;
        reply.initRoot<wire::ControlMessage>().initUnimplemented().setWhich(static_cast<uint16_t>(message.which()));
        send(control_, id, reply);
        break;
      }
    }
    return {};
  });
  if (!handled) {
    ++counters_.badMessages;
    spdlog::debug("dropped a control message: {}", handled.error().message);
  }
}

void Daemon::handleHello(const std::string& id, wire::Hello::Reader hello, bool operatorSocket) {
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
  send(operatorSocket ? operator_ : control_, id, reply);
}

void Daemon::handleRegister(const std::string& id, wire::Register::Reader reg, const std::string& userId) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initRegisterReply();
  auto refuse = [&](const std::string& why) {
    r.setAccepted(false);
    r.setReason(why);
    send(control_, id, reply);
    spdlog::warn("refused a registration: {}", why);
  };
  Result<std::string> name = proto::readText(reg.getName(), MAX_NAME, "register.name");
  if (!name) return refuse(name.error().message);
  AgentRecord* agent = registry_.find(*name);
  if (!agent) return refuse(fmt::format("'{}' is not a device of fleet '{}'", *name, config_.topology.name));
  Result<proto::CurveKey> key = proto::readKey32(reg.getPublicKey(), "register.publicKey");
  if (!key) return refuse(key.error().message);
  if (proto::encodeZ85Key(*key) != agent->publicKeyZ85 || userId != agent->publicKeyZ85)
    return refuse(fmt::format("'{}' registered with a key that is not the topology's", *name));
  Result<planner::DeviceProfile> profile = decodeProfile(reg.getProfile(), *name);
  if (!profile) return refuse(fmt::format("'{}': {}", *name, profile.error().message));
  Result<std::string> endpoint = proto::readText(reg.getDataEndpoint(), MAX_ENDPOINT, "register.dataEndpoint");
  if (!endpoint || endpoint->empty()) return refuse("register.dataEndpoint is missing or too long");

  bool wasOnline = agent->online;
  agent->online = true;
  agent->routingId = id;
  agent->profile = *profile;
  agent->measured = reg.getProfile().getMeasured();
  agent->dataEndpoint = *endpoint;
  agent->lastSeen = Clock::now();
  agent->ackedEpoch = 0;
  agent->stalled.clear();  // a fresh process; its heartbeats say if it stalls again
  r.setAccepted(true);
  r.setHeartbeatSeconds(config_.topology.heartbeatSeconds);
  r.setTelemetrySeconds(1.0);
  r.setStallSeconds(config_.topology.stallSeconds);
  send(control_, id, reply);
  spdlog::info("[{}] registered ({}, {}, data {}, key {})", agent->name, profile->kind,
               agent->measured ? "measured" : "declared", agent->dataEndpoint, agent->fingerprint);
  broadcast([&](wire::WatchEvent::Builder e) { e.setAgentUp(agent->name); }, false, true, false);
  // It runs nothing yet: give it the current plan now. If the current plan gives it stages, it
  // restarted: quicker than the heartbeat timeout, or while no plan could replace the one that
  // lost it (a sink that was down). What it held is lost and its peers still know its old data
  // endpoint, so a new epoch is due even if the assignment stays the same: it re-runs what was
  // lost and tells the peers where it is now.
  if (current_) pushPlan(*current_, *agent);
  replanWanted_ = true;
  replanAgentLost_ = replanAgentLost_ || mayHoldRequests(agent->name);
  replanReason_ = wasOnline ? fmt::format("agent {} re-registered", agent->name) : fmt::format("agent {} up", agent->name);
}

void Daemon::handleHeartbeat(AgentRecord& agent, wire::Heartbeat::Reader heartbeat) {
  Result<std::string> stalled = proto::readText(heartbeat.getStalled(), 256, "heartbeat.stalled");
  if (stalled && *stalled != agent.stalled) {
    if (agent.stalled.empty()) {
      spdlog::warn("[{}] compute stalled: {}; planning without it", agent.name, *stalled);
      broadcast([&](wire::WatchEvent::Builder e) { e.setAgentDown(agent.name); }, false, true, false);
      replanAgentLost_ = replanAgentLost_ || mayHoldRequests(agent.name);
      replanReason_ = fmt::format("agent {} stalled", agent.name);
      replanWanted_ = true;
    } else if (stalled->empty()) {
      spdlog::info("[{}] compute moving again", agent.name);
      broadcast([&](wire::WatchEvent::Builder e) { e.setAgentUp(agent.name); }, false, true, false);
      replanReason_ = fmt::format("agent {} moving again", agent.name);
      replanWanted_ = true;
    }
    agent.stalled = std::move(*stalled);
  }
  capnp::MallocMessageBuilder reply;
  auto h = reply.initRoot<wire::ControlMessage>().initHeartbeat();
  h.setSequence(heartbeat.getSequence());
  h.setEpoch(epoch_);
  send(control_, agent.routingId, reply);
}

void Daemon::handleTelemetry(AgentRecord& agent, wire::Telemetry::Reader telemetry) {
  agent.queueDepth = telemetry.getQueueDepth();
  takeLinkEstimates(agent, telemetry.getLinks());
  broadcast(
      [&](wire::WatchEvent::Builder e) {
        auto t = e.initTelemetry();
        t.setAgent(agent.name);
        t.setReport(telemetry);
      },
      false, false, true);
}

void Daemon::handlePlanAck(AgentRecord& agent, wire::PlanAck::Reader ack) {
  if (ack.getAccepted()) {
    agent.ackedEpoch = std::max(agent.ackedEpoch, ack.getEpoch());
    spdlog::info("[{}] runs plan epoch {}", agent.name, ack.getEpoch());
  } else {
    Result<std::string> reason = proto::readText(ack.getReason(), 1024, "planAck.reason");
    spdlog::warn("[{}] refused plan epoch {}: {}", agent.name, ack.getEpoch(), reason ? *reason : "?");
  }
}

void Daemon::handleGraphRequest(AgentRecord& agent, wire::GraphRequest::Reader request) {
  Result<proto::CurveKey> hash = proto::readKey32(request.getHash(), "graphRequest.hash");
  if (!hash) {
    ++counters_.badMessages;
    return;
  }
  const std::string* bytes = nullptr;
  for (const std::optional<FleetPlan>* plan : {&current_, &previous_})
    if (*plan)
      if (auto it = (*plan)->graphs.find(*hash); it != (*plan)->graphs.end()) bytes = &it->second;
  capnp::MallocMessageBuilder reply;
  auto blob = reply.initRoot<wire::ControlMessage>().initGraphBlob();
  blob.setHash(proto::dataOf(*hash));
  blob.setFound(bytes != nullptr);
  blob.setByteLength(bytes ? bytes->size() : 0);
  Frames extra;
  extra.emplace_back(bytes ? bytes->data() : nullptr, bytes ? bytes->size() : 0);
  send(control_, agent.routingId, reply, std::move(extra));
}

void Daemon::handleCompleted(AgentRecord& agent, wire::Completed::Reader completed, std::span<zmq::message_t> tensorFrames) {
  uint64_t id = completed.getRequestId();
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    ++counters_.drops;  // a duplicate, or a request that already timed out
    spdlog::debug("[{}] completed request {} which is not pending", agent.name, id);
    return;
  }
  PendingInfer& p = it->second;
  double seconds = secondsSince(p.started);
  if (completed.isFailed()) {
    Result<std::string> why = proto::readText(completed.getFailed(), 256, "completed.failed");
    replyError(p.operatorId, p.operatorRequestId, fmt::format("request {} failed: {}", id, why ? *why : "?"));
    finishInfer(id, why ? *why : "failed", completed.getEpoch(), seconds);
    return;
  }
  auto headers = completed.getOutputs();
  if (headers.size() != tensorFrames.size() || headers.size() > limits_.maxTensors) {
    ++counters_.badMessages;
    return;
  }
  std::vector<proto::WireTensor> outputs;
  for (unsigned i = 0; i < headers.size(); ++i) {
    std::span<const std::byte> bytes(static_cast<const std::byte*>(tensorFrames[i].data()), tensorFrames[i].size());
    Result<proto::WireTensor> t = proto::decodeTensor(headers[i], bytes, limits_);
    if (!t) {
      ++counters_.badMessages;
      spdlog::warn("[{}] request {}: bad output tensor: {}", agent.name, id, t.error().message);
      return;
    }
    outputs.push_back(std::move(*t));
  }
  // A degraded result names what it was computed without (nonn: missing students' features).
  std::vector<std::string> zeroed;
  auto zeroedList = completed.getZeroedInputs();
  Status zeroedOk = zeroedList.size() > limits_.maxTensors
                        ? Status(Error{fmt::format("{} zeroed inputs, the limit is {}", zeroedList.size(), limits_.maxTensors)})
                        : Status{};
  for (auto name : zeroedList) {
    if (!zeroedOk) break;
    Result<std::string> text = proto::readText(name, proto::MAX_TENSOR_NAME, "completed.zeroedInputs");
    if (text) zeroed.push_back(std::move(*text));
    else zeroedOk = text.error();
  }
  if (!zeroedOk) {
    ++counters_.badMessages;
    spdlog::warn("[{}] request {}: bad completed message: {}", agent.name, id, zeroedOk.error().message);
    replyError(p.operatorId, p.operatorRequestId, fmt::format("request {} failed: its result was malformed", id));
    finishInfer(id, "malformed result", completed.getEpoch(), seconds);
    return;
  }
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(p.operatorRequestId);
  r.setFinal(true);
  auto result = r.initInferResult();
  result.setRequestId(id);
  result.setEpoch(completed.getEpoch());
  result.setLatencySeconds(seconds);
  result.setExitStage(completed.getExitStage());
  auto zeroedOut = result.initZeroedInputs(static_cast<unsigned>(zeroed.size()));
  for (size_t i = 0; i < zeroed.size(); ++i) zeroedOut.set(static_cast<unsigned>(i), zeroed[i]);
  auto list = result.initTensors(static_cast<unsigned>(outputs.size()));
  Frames frames;
  for (size_t i = 0; i < outputs.size(); ++i) {
    Result<zmq::message_t> frame = proto::encodeTensor(outputs[i], list[static_cast<unsigned>(i)]);
    if (!frame) return;
    frames.push_back(std::move(*frame));
  }
  send(operator_, p.operatorId, reply, std::move(frames));
  ++counters_.results;
  spdlog::info("[{}] request {} completed under epoch {} in {}{}", agent.name, id, completed.getEpoch(),
               planner::formatSeconds(seconds),
               zeroed.empty() ? std::string() : fmt::format(" (degraded: without {})", fmt::join(zeroed, ", ")));
  finishInfer(id, "", completed.getEpoch(), seconds, zeroed);
}

void Daemon::finishInfer(uint64_t requestId, const std::string& failure, uint64_t epoch, double seconds,
                         const std::vector<std::string>& zeroedInputs) {
  if (!failure.empty()) ++counters_.failed;
  pending_.erase(requestId);
  broadcast(
      [&](wire::WatchEvent::Builder e) {
        auto r = e.initResult();
        r.setRequestId(requestId);
        r.setEpoch(epoch);
        r.setLatencySeconds(seconds);
        r.setFailed(failure);
        auto zeroed = r.initZeroedInputs(static_cast<unsigned>(zeroedInputs.size()));
        for (size_t i = 0; i < zeroedInputs.size(); ++i) zeroed.set(static_cast<unsigned>(i), zeroedInputs[i]);
      },
      true, false, false);
}

// ---------------------------------------------------------------------------------------------
// Timers, liveness and planning

void Daemon::markDown(AgentRecord& agent, const std::string& why) {
  agent.online = false;
  agent.routingId.clear();
  spdlog::warn("[{}] down: {}", agent.name, why);
  broadcast([&](wire::WatchEvent::Builder e) { e.setAgentDown(agent.name); }, false, true, false);
  replanWanted_ = true;
  replanAgentLost_ = replanAgentLost_ || mayHoldRequests(agent.name);
  replanReason_ = fmt::format("agent {} down", agent.name);
}

void Daemon::onTimers() {
  for (AgentRecord& agent : registry_.all())
    if (agent.online && secondsSince(agent.lastSeen) > config_.topology.heartbeatTimeoutSeconds)
      markDown(agent, fmt::format("silent for {}", planner::formatSeconds(secondsSince(agent.lastSeen))));
  if (replanWanted_) {
    replanWanted_ = false;
    replan(replanReason_, replanAgentLost_, false);
    replanAgentLost_ = false;
  }
  if (adaptDue_ || (switch_.betterSince() && secondsSince(started_) >= *switch_.betterSince() +
                                                                         config_.topology.planner.holdSeconds))
    adaptToLinks();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (Clock::now() > it->second.deadline) {
      replyError(it->second.operatorId, it->second.operatorRequestId,
                 fmt::format("request {} timed out after {}", it->first,
                             planner::formatSeconds(secondsSince(it->second.started))));
      uint64_t id = (it++)->first;
      finishInfer(id, "timed out", 0, 0);
    } else {
      ++it;
    }
  }
  dispatchPending();
}

bool Daemon::mayHoldRequests(const std::string& agent) const {
  if (current_ && !current_->stagesOf(agent).empty()) return true;
  // Requests sent under the plan before this one are still in flight for up to the origin's
  // re-run time (protocol.md); one held by an agent that is now lost would wait that long.
  return previous_ && secondsSince(currentSince_) < ORIGIN_RERUN_SECONDS && !previous_->stagesOf(agent).empty();
}

std::set<std::string> Daemon::onlineAgents() const {
  std::set<std::string> online;
  for (const AgentRecord& a : registry_.all())
    if (a.plannable()) online.insert(a.name);
  return online;
}

planner::PlanningProblem Daemon::problemNow() const {
  planner::PlanningProblem problem = config_.problem;
  for (planner::DeviceProfile& device : problem.fleet.devices)
    if (const AgentRecord* a = registry_.find(device.name); a && a->plannable()) device = a->profile;
  links_.applyTo(problem.fleet);
  return problem;
}

void Daemon::replan(const std::string& reason, bool agentLost, bool force) {
  const std::set<std::string> online = onlineAgents();
  const planner::PlanningProblem problem = problemNow();
  Result<OnlinePlan> planned = planOnline(problem, online, config_.topology.model.strategy, config_.allowed);
  if (!planned) {
    spdlog::info("no plan yet ({}): {}", reason, planned.error().message);
    if (agentLost && current_) {  // the current plan lost an agent; keep it until one can be made
      spdlog::warn("plan epoch {} is broken until a new plan can be made", current_->epoch);
    }
    return;
  }
  bool routeIntact = current_ && std::all_of(current_->stages.begin(), current_->stages.end(), [&](const FleetStage& s) {
                       return online.count(s.agent) != 0;
                     });
  if (current_ && routeIntact && !force && !agentLost) {
    if (assignmentKey(current_->plan, current_->names) == assignmentKey(planned->plan, planned->names))
      return;  // nothing changes
    // An agent came (or came back): the running plan still works, so only a better one (more
    // of the bundle placed, or cheaper) replaces it. Equally good assignments abound (a nonn
    // fleet of identical boards), and swapping one for another costs a push and a reload.
    Result<OnlinePlan> now = reevaluateOnline(problem, online, current_->plan, current_->names);
    if (now && !planner::preferable(planned->plan, now->plan)) return;
  }
  Result<FleetPlan> built = buildFleetPlan(config_.bundle, planned->plan, planned->names);
  if (!built) {
    spdlog::error("cannot build the plan's stages: {}", built.error().message);
    return;
  }
  built->reason = reason;
  built->abandonBefore = (agentLost || (current_ && !routeIntact)) ? epoch_ + 1 : 0;
  install(std::move(*built));
}

void Daemon::install(FleetPlan plan, double previousPredictedSeconds) {
  plan.epoch = ++epoch_;
  ++counters_.replans;
  planLinks_ = links_.snapshot();
  switch_.reset();
  std::vector<std::string> parts;
  for (const FleetStage& s : plan.stages)
    parts.push_back(s.label == "relay" ? fmt::format("{} relays", s.agent) : fmt::format("{} runs {}", s.agent, s.label));
  std::string missing;
  for (uint32_t k : plan.plan.missingStudents) missing += fmt::format(", student {} left out", k);
  spdlog::info("plan epoch {} ({}): {} {}{}; predicted latency {}", plan.epoch, plan.reason,
               planner::strategyName(plan.plan.strategy), fmt::join(parts, ", "), missing,
               planner::formatSeconds(plan.plan.latencySeconds));
  previous_ = std::move(current_);
  current_ = std::move(plan);
  currentSince_ = Clock::now();
  for (const AgentRecord& agent : registry_.all())
    if (agent.online) pushPlan(*current_, agent);
  broadcast(
      [&](wire::WatchEvent::Builder e) {
        e.setReason(current_->reason);
        e.setPreviousPredictedSeconds(previousPredictedSeconds);
        fillPlanSummary(e.initPlan(), *current_, true);
      },
      true, false, false);
}

void Daemon::pushPlan(const FleetPlan& plan, const AgentRecord& agent) {
  proto::PlanSpec spec = planSpecFor(plan, agent.name, config_.bundle.name);
  for (proto::PeerSpec& peer : spec.peers) {
    const AgentRecord* record = registry_.find(peer.name);
    if (Result<proto::CurveKey> key = proto::decodeZ85Key(record->publicKeyZ85)) peer.publicKey = *key;
    peer.dataEndpoint = record->dataEndpoint;
  }
  capnp::MallocMessageBuilder message;
  proto::encodePlanPush(spec, message.initRoot<wire::ControlMessage>().initPlanPush());
  send(control_, agent.routingId, message);
}

void Daemon::dispatchPending() {
  if (!current_) return;
  AgentRecord* origin = registry_.find(current_->origin());
  if (!origin || !origin->online) return;
  for (auto& [id, p] : pending_) {
    if (p.submitted) continue;
    capnp::MallocMessageBuilder message;
    auto submit = message.initRoot<wire::ControlMessage>().initSubmit();
    submit.setRequestId(id);
    auto headers = submit.initTensors(static_cast<unsigned>(p.inputs.size()));
    Frames frames;
    bool ok = true;
    for (size_t i = 0; i < p.inputs.size() && ok; ++i) {
      Result<zmq::message_t> frame = proto::encodeTensor(p.inputs[i], headers[static_cast<unsigned>(i)]);
      ok = frame.ok();
      if (ok) frames.push_back(std::move(*frame));
    }
    if (!ok) continue;
    send(control_, origin->routingId, message, std::move(frames));
    p.submitted = true;
  }
}

// ---------------------------------------------------------------------------------------------
// Watch

void Daemon::broadcast(const std::function<void(wire::WatchEvent::Builder)>& fill, bool plans, bool agents,
                       bool telemetry) {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    const Watcher& w = *it;
    if ((plans && !w.plans) || (agents && !w.agents) || (telemetry && !w.telemetry)) {
      ++it;
      continue;
    }
    capnp::MallocMessageBuilder message;
    auto r = message.initRoot<wire::ControlMessage>().initOperatorReply();
    r.setId(w.requestId);
    r.setFinal(false);
    fill(r.initEvent());
    if (send(operator_, w.operatorId, message)) {
      ++it;
    } else {  // the watching operator has gone
      spdlog::info("a watch ended (request {})", w.requestId);
      it = watchers_.erase(it);
    }
  }
}

void Daemon::reportRefusals() {
  for (const proto::ZapRefusal& refusal : zap_->takeRefusals()) {
    spdlog::warn("refused a connection from {} on '{}': {} (key {})", refusal.address, refusal.domain, refusal.reason,
                 refusal.fingerprint);
    broadcast(
        [&](wire::WatchEvent::Builder e) {
          auto r = e.initRefusal();
          r.setFingerprint(refusal.fingerprint);
          r.setAddress(refusal.address);
          r.setReason(refusal.reason);
        },
        false, true, false);
  }
}

}  // namespace cleave::daemon
