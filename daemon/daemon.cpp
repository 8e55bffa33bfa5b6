#include "daemon/daemon.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <capnp/message.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "daemon/profile_message.h"
#include "planner/units.h"
#include "proto/message_codec.h"

namespace cleave::daemon {
namespace {

constexpr size_t MAX_NAME = 64;
constexpr size_t MAX_ENDPOINT = 256;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Endpoints as cleavectl up reads them; written whole or not at all.
Status writeEndpointsFile(const std::string& path, const ServerEndpoints& endpoints) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << "control=" << endpoints.control << "\noperator=" << endpoints.operators << "\n";
    if (!out) return Error{fmt::format("{}: cannot write", tmp)};
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Error{fmt::format("{}: cannot rename into place: {}", path, ec.message())};
  return {};
}

}  // namespace

Result<std::unique_ptr<Daemon>> Daemon::create(const DaemonOptions& options) {
  Result<config::FleetConfig> config = config::loadFleetConfig(options.configPath, options.modelOverride);
  if (!config) return config.error();
  const std::string keysDir = options.keysDir.empty() ? config->topology.keysDir : options.keysDir;
  Result<proto::CurveKeyPair> keys = proto::readKeyFiles(keysDir, "daemon");
  if (!keys) return Error{fmt::format("the daemon's key pair: {}", keys.error().message)};

  // Only the topology's agents and operators complete the CURVE handshake.
  AgentRegistry registry;
  std::set<std::string> allowed;
  for (const planner::DeviceProfile& device : config->topology.fleet.devices) {
    AgentRecord record;
    record.name = device.name;
    record.profile = device;
    std::string path = proto::keyFilePaths(keysDir, device.name).publicPath;
    if (Result<std::string> key = proto::readPublicKeyFile(path)) {
      record.publicKeyZ85 = *key;
      record.fingerprint = *proto::keyFingerprint(*key);
      allowed.insert(*key);
    } else {
      spdlog::warn("[{}] no public key ({}); this agent cannot join", device.name, key.error().message);
    }
    registry.add(std::move(record));
  }
  for (const std::string& name : config->topology.operators) {
    std::string path = proto::keyFilePaths(keysDir, name).publicPath;
    if (Result<std::string> key = proto::readPublicKeyFile(path)) allowed.insert(*key);
    else spdlog::warn("operator '{}': {}", name, key.error().message);
  }

  ServerEndpoints bindTo{options.controlEndpoint.empty() ? config->topology.daemonEndpoint : options.controlEndpoint,
                         options.operatorEndpoint.empty() ? config->topology.operatorEndpoint : options.operatorEndpoint};
  Result<std::unique_ptr<ControlServer>> server = ControlServer::create(*keys, allowed, bindTo);
  if (!server) return server.error();
  ServerEndpoints bound = (*server)->boundEndpoints();
  std::unique_ptr<Daemon> d(new Daemon(std::move(*config), std::move(registry), std::move(*server)));
  spdlog::info("fleet '{}': control {}, operator {}, model {} ({} nodes), {} agents known", d->config_.topology.name,
               bound.control, bound.operators, d->config_.bundle.name, d->config_.problem.model.nodes.size(),
               d->registry_.all().size());
  if (!options.endpointsFile.empty()) CLEAVE_TRY(writeEndpointsFile(options.endpointsFile, bound));
  return d;
}

Daemon::Daemon(config::FleetConfig config, AgentRegistry registry, std::unique_ptr<ControlServer> server)
    : config_(std::move(config)),
      registry_(std::move(registry)),
      server_(std::move(server)),
      watchers_(*server_),
      distribution_(config_.bundle.name, registry_, *server_, counters_),
      relay_(config_.bundle, *server_, watchers_, counters_),
      keeper_(config_, registry_, [this](const FleetPlan& plan) { onPlanInstalled(plan); }) {}

Daemon::~Daemon() = default;

void Daemon::run(const std::atomic<bool>& stop) {
  auto heartbeat = std::chrono::duration<double>(config_.topology.heartbeatSeconds);
  auto pollEvery = std::max(std::chrono::milliseconds(10), std::chrono::duration_cast<std::chrono::milliseconds>(heartbeat));
  while (!stop.load()) {
    std::chrono::milliseconds wait = std::min(pollEvery, keeper_.untilHoldEnds().value_or(pollEvery));
    server_->poll(wait, *this);
    onTimers();
  }
  spdlog::info("daemon stopping: {} requests, {} results, {} re-plans", counters_.requests, counters_.results,
               counters_.replans);
}

void Daemon::onTimers() {
  for (AgentRecord& agent : registry_.all())
    if (agent.online && secondsSince(agent.lastSeen) > config_.topology.heartbeatTimeoutSeconds)
      markDown(agent, fmt::format("silent for {}", planner::formatSeconds(secondsSince(agent.lastSeen))));
  keeper_.tick();
  relay_.expire();
  dispatch();
}

void Daemon::dispatch() {
  if (const FleetPlan* plan = keeper_.current()) relay_.dispatch(registry_.find(plan->origin()));
}

void Daemon::onPlanInstalled(const FleetPlan& plan) {
  ++counters_.replans;
  distribution_.pushToAll(plan);
  watchers_.broadcast(WatchKind::Plans, [&](wire::WatchEvent::Builder e) {
    e.setReason(plan.reason);
    e.setPreviousPredictedSeconds(plan.replacedPredictedSeconds);
    fillPlanSummary(e.initPlan(), plan, true);
  });
}

// ---------------------------------------------------------------------------------------------
// Agents' membership

Status Daemon::onAgentMessage(const std::string& routingId, const std::string& userId,
                              wire::ControlMessage::Reader message, std::span<zmq::message_t> tensorFrames) {
  if (message.isRegister()) {
    handleRegister(routingId, message.getRegister(), userId);
    return {};
  }
  AgentRecord* agent = registry_.findByRoutingId(routingId);
  if (!agent) return Error{"message from an unregistered connection"};
  agent->lastSeen = Clock::now();
  switch (message.which()) {
    case wire::ControlMessage::HEARTBEAT: handleHeartbeat(*agent, message.getHeartbeat()); break;
    case wire::ControlMessage::TELEMETRY: handleTelemetry(*agent, message.getTelemetry()); break;
    case wire::ControlMessage::PLAN_ACK: distribution_.takeAck(*agent, message.getPlanAck()); break;
    case wire::ControlMessage::GRAPH_REQUEST:
      distribution_.answerGraphRequest(keeper_, *agent, message.getGraphRequest());
      break;
    case wire::ControlMessage::COMPLETED: relay_.complete(*agent, message.getCompleted(), tensorFrames); break;
    case wire::ControlMessage::UNIMPLEMENTED: break;
    default: server_->replyUnimplemented(false, routingId, static_cast<uint16_t>(message.which())); break;
  }
  return {};
}

void Daemon::handleRegister(const std::string& routingId, wire::Register::Reader reg, const std::string& userId) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initRegisterReply();
  auto refuse = [&](const std::string& why) {
    r.setAccepted(false);
    r.setReason(why);
    server_->sendToAgent(routingId, reply);
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
  agent->routingId = routingId;
  // Which arithmetic a device has kernels for is the operator's declaration (the firmware they
  // flashed), not something a self-benchmark measures: the topology's stays.
  profile->runsFloat32 = agent->profile.runsFloat32;
  profile->runsInt8 = agent->profile.runsInt8;
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
  server_->sendToAgent(routingId, reply);
  spdlog::info("[{}] registered ({}, {}, data {}, key {})", agent->name, profile->kind,
               agent->measured ? "measured" : "declared", agent->dataEndpoint, agent->fingerprint);
  watchers_.broadcast(WatchKind::Agents, [&](wire::WatchEvent::Builder e) { e.setAgentUp(agent->name); });
  // It runs nothing yet: give it the current plan now. If the current plan gives it stages, it
  // restarted: quicker than the heartbeat timeout, or while no plan could replace the one that
  // lost it (a sink that was down). What it held is lost and its peers still know its old data
  // endpoint, so a new epoch is due even if the assignment stays the same: it re-runs what was
  // lost and tells the peers where it is now.
  if (const FleetPlan* plan = keeper_.current()) distribution_.pushTo(*plan, *agent);
  keeper_.fleetChanged(wasOnline ? fmt::format("agent {} re-registered", agent->name)
                                 : fmt::format("agent {} up", agent->name),
                       agent->name);
}

void Daemon::handleHeartbeat(AgentRecord& agent, wire::Heartbeat::Reader heartbeat) {
  Result<std::string> stalled = proto::readText(heartbeat.getStalled(), 256, "heartbeat.stalled");
  if (stalled && *stalled != agent.stalled) {
    if (agent.stalled.empty()) {
      spdlog::warn("[{}] compute stalled: {}; planning without it", agent.name, *stalled);
      watchers_.broadcast(WatchKind::Agents, [&](wire::WatchEvent::Builder e) { e.setAgentDown(agent.name); });
      keeper_.fleetChanged(fmt::format("agent {} stalled", agent.name), agent.name);
    } else if (stalled->empty()) {
      spdlog::info("[{}] compute moving again", agent.name);
      watchers_.broadcast(WatchKind::Agents, [&](wire::WatchEvent::Builder e) { e.setAgentUp(agent.name); });
      keeper_.fleetChanged(fmt::format("agent {} moving again", agent.name));
    }
    agent.stalled = std::move(*stalled);
  }
  capnp::MallocMessageBuilder reply;
  auto h = reply.initRoot<wire::ControlMessage>().initHeartbeat();
  h.setSequence(heartbeat.getSequence());
  h.setEpoch(keeper_.epoch());
  server_->sendToAgent(agent.routingId, reply);
}

void Daemon::handleTelemetry(AgentRecord& agent, wire::Telemetry::Reader telemetry) {
  agent.queueDepth = telemetry.getQueueDepth();
  for (auto estimate : telemetry.getLinks()) {
    Result<std::string> peer = proto::readText(estimate.getPeer(), MAX_NAME, "telemetry link peer");
    if (!peer || !keeper_.takeEstimate(agent.name, *peer, {estimate.getBytesPerSecond(), estimate.getRttSeconds()}))
      ++counters_.badMessages;
  }
  watchers_.broadcast(WatchKind::Telemetry, [&](wire::WatchEvent::Builder e) {
    auto t = e.initTelemetry();
    t.setAgent(agent.name);
    t.setReport(telemetry);
  });
}

void Daemon::markDown(AgentRecord& agent, const std::string& why) {
  agent.online = false;
  agent.routingId.clear();
  spdlog::warn("[{}] down: {}", agent.name, why);
  watchers_.broadcast(WatchKind::Agents, [&](wire::WatchEvent::Builder e) { e.setAgentDown(agent.name); });
  keeper_.fleetChanged(fmt::format("agent {} down", agent.name), agent.name);
}

void Daemon::onRefusal(const proto::ZapRefusal& refusal) {
  spdlog::warn("refused a connection from {} on '{}': {} (key {})", refusal.address, refusal.domain, refusal.reason,
               refusal.fingerprint);
  watchers_.broadcast(WatchKind::Agents, [&](wire::WatchEvent::Builder e) {
    auto r = e.initRefusal();
    r.setFingerprint(refusal.fingerprint);
    r.setAddress(refusal.address);
    r.setReason(refusal.reason);
  });
}

}  // namespace cleave::daemon
