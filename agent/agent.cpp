#include "agent/agent.h"

#include "agent/exit_rule.h"

#include <fmt/format.h>

#include <algorithm>

#include "agent/device_profile.h"
#include "agent/socket_io.h"
#include "planner/units.h"
#include "proto/wire_names.h"
#include "proto/key_files.h"
#include "proto/message_codec.h"

namespace cleave::agent {
namespace {

using Seconds = std::chrono::duration<double>;
constexpr const char* SOFTWARE = "cleave-agent (protocol 2)";
constexpr auto MAX_POLL_WAIT = std::chrono::milliseconds(1000);

std::string shortHash(const proto::ContentHash& hash) { return proto::toHex(hash).substr(0, 12); }

std::string describeValues(const std::vector<ValueInfo>& values) {
  std::vector<std::string> parts;
  for (const ValueInfo& v : values) parts.push_back(fmt::format("{}{}", v.name, shapeString(v.type.shape)));
  return fmt::format("{}", fmt::join(parts, ", "));
}

// Inputs of a stage in its order, taken by name from a message's tensors, each of the type the
// stage expects.
Result<std::vector<Tensor>> stageInputs(const std::vector<ValueInfo>& specs,
                                        const std::vector<proto::WireTensor>& tensors) {
  if (tensors.size() != specs.size())
    return Error{fmt::format("{} tensors, the stage takes {}", tensors.size(), specs.size())};
  std::vector<Tensor> inputs;
  for (const ValueInfo& spec : specs) {
    auto it =
        std::find_if(tensors.begin(), tensors.end(), [&](const proto::WireTensor& t) { return t.name == spec.name; });
    if (it == tensors.end()) return Error{fmt::format("input '{}' is missing", spec.name)};
    if (it->tensor.type() != spec.type)
      return Error{fmt::format("input '{}' is {}, the stage expects {}", spec.name, it->tensor.type().toString(),
                               spec.type.toString())};
    inputs.push_back(it->tensor);
  }
  return inputs;
}

bool sameValues(const std::vector<ValueInfo>& a, const std::vector<ValueInfo>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || a[i].type != b[i].type) return false;
  return true;
}

proto::TensorLimits limitsFor(const planner::DeviceProfile& profile) {
  // Never let one message's tensors claim more than a quarter of the device's memory.
  proto::TensorLimits limits;
  if (profile.ramBytes > 0) {
    const uint64_t quarter = static_cast<uint64_t>(profile.ramBytes) / 4;
    limits.maxMessageBytes = std::clamp<uint64_t>(quarter, 1 << 20, limits.maxMessageBytes);
    limits.maxTensorBytes = std::min(limits.maxTensorBytes, limits.maxMessageBytes);
  }
  return limits;
}

}  // namespace

Agent::Agent(config::AgentConfig config, std::shared_ptr<spdlog::logger> log)
    : config_(std::move(config)), log_(std::move(log)) {}

Agent::~Agent() = default;

Result<std::unique_ptr<Agent>> Agent::create(const config::AgentConfig& config, std::shared_ptr<spdlog::logger> log) {
  Result<proto::CurveKeyPair> keys = proto::readKeyFiles(config.keysDir, config.name);
  if (!keys) return Error{"this agent's keys: " + keys.error().message};
  Result<std::string> daemonKey = proto::readPublicKeyFile(config.daemonKeyFile);
  if (!daemonKey) return Error{"the daemon's key: " + daemonKey.error().message};

  if (!config.device)
    log->info("measuring this device for {:g} s (no [device] in {})", config.measureSeconds, config.path);
  Result<StartupProfile> profile = startupProfile(config);
  if (!profile) return profile.error();
  log->info("profile ({}): kind {}, conv {:.3g} MAC/s, gemm {:.3g} MAC/s, RAM {} MiB",
            profile->measured ? "measured" : "declared", profile->profile.kind,
            profile->profile.rate(planner::OpClass::Conv), profile->profile.rate(planner::OpClass::Gemm),
            profile->profile.ramBytes >> 20);

  std::unique_ptr<Agent> agent(new Agent(config, log));
  agent->limits_ = limitsFor(profile->profile);
  Result<proto::ZapAuthenticator> zap = proto::ZapAuthenticator::create(agent->context_);
  if (!zap) return zap.error();
  agent->zap_.emplace(std::move(*zap));
  Result<std::unique_ptr<DataPlane>> data =
      DataPlane::create(*agent->zap_, *keys, config.name, config.dataEndpoint, config.advertise, agent->limits_, log);
  if (!data) return data.error();
  agent->data_ = std::move(*data);
  if (agent->data_->endpoint().find("0.0.0.0") != std::string::npos)
    log->warn("data plane bound on {}: peers cannot connect to that address; set 'advertise' in {}",
              agent->data_->endpoint(), config.path);
  log->info("data plane listening on {} (advertised as {})", agent->data_->boundEndpoint(), agent->data_->endpoint());
  for (const config::ShapeConfig& shape : config.shapes) {
    // A trace's time zero on this process's monotonic clock, from the shared wall-clock start.
    Clock::time_point start = Clock::now();
    if (shape.traceStartUnixSeconds) {
      const double ago = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() -
                         *shape.traceStartUnixSeconds;
      start -= std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(ago));
    }
    agent->data_->setShaper(shape.peer, LinkShaper(shape.trace, start, DataPlane::SHAPER_BURST_BYTES));
    log->info("link to {} shaped {}", shape.peer,
              shape.tracePath.empty()
                  ? fmt::format("at {}, rtt {}", planner::formatBandwidth(shape.trace.bytesPerSecondAt(0)),
                                planner::formatSeconds(shape.trace.rttSecondsAt(0)))
                  : fmt::format("by the trace {}", shape.tracePath));
  }
  if (config.paceCompute) log->info("pacing compute to the declared device's predicted stage times");

  if (!config.clientEndpoint.empty()) {
    std::set<std::string> clientKeys;
    for (const std::string& file : config.clientKeyFiles) {
      Result<std::string> key = proto::readPublicKeyFile(file);
      if (!key) return Error{"a client key: " + key.error().message};
      clientKeys.insert(*key);
    }
    Result<std::unique_ptr<ClientSocket>> client =
        ClientSocket::create(*agent->zap_, *keys, config.clientEndpoint, clientKeys, agent->limits_, log);
    if (!client) return client.error();
    agent->client_ = std::move(*client);
    agent->data_->setClientKeys(std::move(clientKeys));
    log->info("client socket listening on {} ({} client key{})", agent->client_->boundEndpoint(),
              agent->client_->keys().size(), agent->client_->keys().size() == 1 ? "" : "s");
  }
  agent->updateAllowList();

  Result<std::unique_ptr<ComputeWorker>> worker = ComputeWorker::start();
  if (!worker) return worker.error();
  agent->worker_ = std::move(*worker);

  ControlOptions options;
  options.name = config.name;
  options.daemonEndpoint = config.daemonEndpoint;
  options.daemonPublicKey = *daemonKey;
  options.keys = *keys;
  options.software = SOFTWARE;
  options.profile = profile->profile;
  options.profileMeasured = profile->measured;
  options.dataEndpoint = agent->data_->endpoint();
  Result<std::unique_ptr<ControlSession>> control = ControlSession::create(agent->context_, options, log);
  if (!control) return control.error();
  agent->control_ = std::move(*control);
  return agent;
}

// ---------------------------------------------------------------------------------------------
// The loop

Status Agent::run(int stopFd) {
  CLEAVE_TRY(control_->start(Clock::now()));
  log_->info("saying hello to the daemon at {}", config_.daemonEndpoint);
  std::vector<zmq::pollitem_t> items;
  for (;;) {
    if (control_->fatal()) return Error{*control_->fatal()};
    items.clear();
    items.push_back({nullptr, stopFd, ZMQ_POLLIN, 0});
    items.push_back({zap_->socket().handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({control_->socket().handle(), 0, ZMQ_POLLIN, 0});
    items.push_back({nullptr, worker_->wakeFd(), ZMQ_POLLIN, 0});
    if (client_) items.push_back({client_->socket().handle(), 0, ZMQ_POLLIN, 0});
    const size_t fixed = items.size();
    data_->addPollItems(items);

    Clock::time_point now = Clock::now();
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(nextDeadline(now) - now);
    wait = std::clamp(wait, std::chrono::milliseconds(0), MAX_POLL_WAIT);
    try {
      zmq::poll(items.data(), items.size(), wait);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) return Error{fmt::format("poll failed: {}", e.what())};
      continue;
    }
    if (items[0].revents & ZMQ_POLLIN) {
      log_->info("stopping (signal received)");
      return {};
    }
    now = Clock::now();
    if (items[1].revents & ZMQ_POLLIN) handleZap();
    if (items[2].revents & ZMQ_POLLIN) control_->receive(*this, now);
    if (items[3].revents & ZMQ_POLLIN) {
      for (WorkerResult& result : worker_->takeResults()) {
        if (auto* run = std::get_if<StageRunDone>(&result))
          onStageDone(std::move(*run));
        else
          onLoadDone(std::move(std::get<LoadStagesDone>(result)));
      }
    }
    if (client_ && (items[4].revents & ZMQ_POLLIN)) client_->receive(*this);
    data_->handlePolled(std::span<const zmq::pollitem_t>(items).subspan(fixed), *this);

    now = Clock::now();
    data_->tick(now);
    if (data_->estimatesChanged(LINK_REPORT_CHANGE)) control_->telemetrySoon(now);
    control_->tick(*this, now);
    expireFutures(now);
    if (std::vector<FanIn::Expired> expired = gathered_.expire(now); !expired.empty())
      failGathered(expired, wire::Failure::Reason::INCOMPLETE,
                   fmt::format("not every input arrived within {} s", Seconds(FanIn::Limits{}.maxWait).count()));
    checkPendingPlan(now);
    expireClientRequests(now);
    if (std::optional<Clock::time_point> due = origin_.nextDeadline(); due && *due <= now) runDue(0);
  }
}

Clock::time_point Agent::nextDeadline(Clock::time_point now) const {
  Clock::time_point next = now + MAX_POLL_WAIT;
  auto consider = [&](std::optional<Clock::time_point> at) {
    if (at && *at < next) next = *at;
  };
  consider(control_->nextDeadline());
  consider(data_->nextDeadline());
  consider(origin_.nextDeadline());
  consider(gathered_.nextDeadline());
  if (!future_.empty()) consider(future_.front().receivedAt + FUTURE_WAIT);
  for (const auto& [id, request] : clientRequests_) consider(request.deadline);
  if (pending_ && !pending_->missing.empty()) consider(pending_->requestedAt + GRAPH_RETRY);
  return next;
}

void Agent::handleZap() {
  zap_->handlePending();
  for (const proto::ZapRefusal& refusal : zap_->takeRefusals()) {
    ++counters_.refusedConnections;
    log_->warn("refused a {} connection from {}: key {} ({}, {})",
               refusal.domain == ClientSocket::ZAP_DOMAIN ? "client" : "data-plane", refusal.address,
               refusal.fingerprint, refusal.mechanism, refusal.reason);
  }
}

void Agent::updateAllowList() {
  std::set<std::string> keys = epochs_.allowedKeys();
  if (client_) keys.insert(client_->keys().begin(), client_->keys().end());
  if (Status ok = zap_->setAllowed(keys); !ok) log_->error("allow-list: {}", ok.error().message);
}

uint32_t Agent::inFlight() { return static_cast<uint32_t>(origin_.size() + jobsInFlight_ + future_.size()); }

std::string Agent::stalled() {
  // A stage cannot be taken back from the compute thread; what the agent can do is say so. The
  // daemon then plans around it, and the origins run what it held again elsewhere.
  const WorkerActivity activity = worker_->activity();
  const Clock::time_point now = Clock::now();
  if (!isStalled(activity, now, control_->stallSeconds())) {
    if (stalledSince_) {
      log_->info("compute moving again after {}", planner::formatSeconds(
                                                      std::chrono::duration<double>(now - *stalledSince_).count()));
      stalledSince_.reset();
    }
    return {};
  }
  const std::string what = fmt::format(
      "{} for {}", activity.job, planner::formatSeconds(std::chrono::duration<double>(now - activity.since).count()));
  if (stalledSince_ != activity.since) {
    stalledSince_ = activity.since;
    ++counters_.computeStalls;
    log_->warn("compute stalled: {} ({} jobs waiting behind it); telling the daemon", what, worker_->queued());
    logCountersIfChanged();
  }
  return what;
}

void Agent::onLinkShape(wire::LinkShape::Reader shape) {
  Result<std::string> peer = proto::readText(shape.getPeer(), proto::MAX_NAME_BYTES, "linkShape.peer");
  if (!peer) {
    log_->warn("link shape: {}", peer.error().message);
    return;
  }
  auto points = shape.getTrace();
  if (points.size() == 0 && shape.getBytesPerSecond() == 0) {
    data_->setShaper(*peer, std::nullopt);
    log_->info("link to {}: shaping removed", *peer);
    return;
  }
  std::vector<config::TracePoint> trace;
  if (points.size() == 0) {
    trace.push_back({0.0, shape.getBytesPerSecond() * 8, shape.getRttSeconds()});
  } else {
    for (auto point : points) trace.push_back({point.getSeconds(), point.getBytesPerSecond() * 8, point.getRttSeconds()});
  }
  Result<config::BandwidthTrace> checked = config::BandwidthTrace::fromPoints(std::move(trace), "link shape");
  if (!checked) {
    log_->warn("link shape for {} refused: {}", *peer, checked.error().message);
    return;
  }
  log_->info("link to {}: shaped {}", *peer,
             points.size() == 0 ? fmt::format("at {}, rtt {}", planner::formatBandwidth(shape.getBytesPerSecond()),
                                              planner::formatSeconds(shape.getRttSeconds()))
                                : fmt::format("by a trace of {} points", points.size()));
  data_->setShaper(*peer, LinkShaper(std::move(*checked), Clock::now(), DataPlane::SHAPER_BURST_BYTES));
}

std::vector<TelemetryReport> Agent::telemetry() {
  std::map<uint64_t, TelemetryReport> byEpoch;
  for (const auto& [key, timing] : timings_) {
    TelemetryReport& report = byEpoch[key.first];
    report.epoch = key.first;
    report.stages.push_back({key.second, timing.runs, timing.total / timing.runs, timing.max});
  }
  timings_.clear();
  std::vector<TelemetryReport> reports;
  for (auto& [epoch, report] : byEpoch) reports.push_back(std::move(report));
  if (reports.empty()) reports.push_back(TelemetryReport{epochs_.newestEpoch(), {}, 0, {}});
  for (const auto& [peer, estimate] : data_->takeLinkReport()) {
    reports.front().links.push_back(
        {peer, estimate.bytesPerSecond, estimate.rttSeconds, estimate.samples, estimate.lastFromProbe});
    log_->debug("link to {}: {}, rtt {:.1f} ms ({} samples)", peer, planner::formatBandwidth(estimate.bytesPerSecond),
                estimate.rttSeconds * 1e3, estimate.samples);
  }
  for (TelemetryReport& report : reports) report.queueDepth = static_cast<uint32_t>(worker_->queued());
  for (const TelemetryReport& report : reports)
    for (const StageTimingReport& stage : report.stages)
      log_->debug("epoch {} stage {}: {} runs, mean {:.3f} ms, max {:.3f} ms", report.epoch, stage.stage, stage.runs,
                  stage.meanSeconds * 1e3, stage.maxSeconds * 1e3);
  for (const auto& [peer, link] : data_->takeLinkStats())
    log_->debug("link to {}: {} acks, {} bytes, mean ack {:.3f} ms, max {:.3f} ms", peer, link.acks, link.bytes,
                link.ackSeconds / static_cast<double>(link.acks) * 1e3, link.maxAckSeconds * 1e3);
  logCountersIfChanged();
  return reports;
}

void Agent::logCountersIfChanged() {
  const DataCounters& data = data_->counters();
  const uint64_t clientDropped = client_ ? client_->dropped() : 0;
  if (counters_ == loggedCounters_ && control_->dropped() == loggedControlDropped_ &&
      data.dropped == loggedDataDropped_ && data.stalls == loggedDataStalls_ && clientDropped == loggedClientDropped_)
    return;
  log_->info(
      "counters: dropped {} control and {} data messages, {} submits; {} duplicate results; {} stray failures; "
      "{} failures received, {} sent; {} re-runs; {} refused connections; {} refused plans; {} stage errors; "
      "{} resent, {} handshake failures, {} stalled connections rebuilt, {} send errors; {} client messages "
      "dropped, {} client requests failed; {} compute stalls; {} duplicate inputs, {} incomplete input sets",
      control_->dropped(), data.dropped, counters_.droppedSubmits, counters_.duplicateResults, counters_.strayFailures,
      counters_.failuresReceived, data.failuresSent, counters_.reruns, counters_.refusedConnections,
      counters_.refusedPlans, counters_.stageErrors, data.resent, data.handshakeFailures, data.stalls,
      data.sendErrors, clientDropped, counters_.clientErrors, counters_.computeStalls, counters_.duplicateInputs,
      counters_.incompleteInputs);
  loggedCounters_ = counters_;
  loggedClientDropped_ = clientDropped;
  loggedControlDropped_ = control_->dropped();
  loggedDataDropped_ = data.dropped;
  loggedDataStalls_ = data.stalls;
}

// ---------------------------------------------------------------------------------------------
// Registration and plans

void Agent::onRegistered(bool again) {
  if (!again) return;
  // The daemon may have restarted, and its epochs with it: start over with whatever it pushes,
  // and run every request we still hold again under it.
  log_->warn("registered again: forgetting epochs {}; pending requests will run under the next plan",
             fmt::join(epochs_.epochs(), ", "));
  epochs_.clear();
  origin_.resetEpochs();
  if (pending_) pending_.reset();
  highestPushSeen_ = 0;
  daemonAhead_.reset();
}

void Agent::onDaemonEpoch(uint64_t epoch) {
  if (epoch <= epochs_.newestEpoch() || epoch <= highestPushSeen_ || epoch <= reRegisteredFor_) {
    daemonAhead_.reset();
    return;
  }
  // The daemon runs an epoch we never saw. It may simply not include us (agents off the route
  // get no push), so ask again only once per epoch, after giving a push time to arrive.
  const Clock::time_point now = Clock::now();
  if (!daemonAhead_ || daemonAhead_->first != epoch) {
    daemonAhead_ = std::make_pair(epoch, now);
    return;
  }
  if (now - daemonAhead_->second < ControlSession::DAEMON_SILENCE) return;
  reRegisteredFor_ = epoch;
  daemonAhead_.reset();
  control_->reRegister(now, fmt::format("the daemon runs epoch {}, which this agent never received", epoch));
}

void Agent::refusePlan(uint64_t epoch, const std::string& reason) {
  ++counters_.refusedPlans;
  log_->warn("plan epoch {} refused: {}", epoch, reason);
  control_->sendPlanAck(epoch, false, reason);
}

void Agent::refusePending(const std::string& reason) {
  if (!pending_) return;
  const uint64_t epoch = pending_->plan.epoch;
  pending_.reset();
  refusePlan(epoch, reason);
}

void Agent::onPlanPush(wire::PlanPush::Reader push) {
  Result<proto::PlanSpec> plan = proto::decodePlanPush(push);
  if (!plan) {
    const uint64_t epoch = push.getEpoch();
    highestPushSeen_ = std::max(highestPushSeen_, epoch);
    refusePlan(epoch, "malformed plan: " + plan.error().message);
    return;
  }
  highestPushSeen_ = std::max(highestPushSeen_, plan->epoch);
  if (plan->epoch <= epochs_.newestEpoch())
    return refusePlan(plan->epoch,
                      fmt::format("epoch {} is not above the newest accepted, {}", plan->epoch, epochs_.newestEpoch()));
  if (pending_ && plan->epoch <= pending_->plan.epoch)
    return refusePlan(plan->epoch,
                      fmt::format("epoch {} is not above epoch {}, being loaded", plan->epoch, pending_->plan.epoch));
  if (plan->strategy == wire::Strategy::CLIO)
    return refusePlan(plan->epoch,
                      fmt::format("strategy {} is not supported by this agent yet", proto::strategyName(plan->strategy)));
  if (Status ok = proto::checkPlanFor(*plan, config_.name); !ok) return refusePlan(plan->epoch, ok.error().message);
  for (const proto::StageSpec& stage : plan->stages)
    for (const proto::RouteSpec& route : stage.next)
      if (route.kind == wire::EdgeKind::CHANNEL_PREFIX)
        return refusePlan(plan->epoch, fmt::format("stage {} sends channels in slices, which this agent does not run "
                                                   "yet", stage.stage));
  for (const proto::StageSpec& stage : plan->stages)
    if (stage.graphBytes > MAX_GRAPH_BYTES)
      return refusePlan(plan->epoch, fmt::format("stage {}'s graph of {} bytes exceeds this agent's limit of {}",
                                                 stage.stage, stage.graphBytes, MAX_GRAPH_BYTES));
  if (pending_) refusePending(fmt::format("superseded by epoch {}", plan->epoch));

  PendingPlan next;
  next.plan = std::move(*plan);
  next.requestedAt = Clock::now();
  for (const proto::StageSpec& stage : next.plan.stages)
    if (!graphs_.contains(stage.graphHash) && next.missing.insert(stage.graphHash).second)
      control_->sendGraphRequest(stage.graphHash);
  log_->info("plan epoch {} received ({} {}, {} stage(s) here, {} graph(s) to fetch)", next.plan.epoch,
             proto::strategyName(next.plan.strategy), next.plan.model, next.plan.stages.size(), next.missing.size());
  pending_ = std::move(next);
  maybeStartLoad();
}

void Agent::onGraphBlob(wire::GraphBlob::Reader blob, std::span<const zmq::message_t> payload) {
  Result<proto::ContentHash> hash = proto::readKey32(blob.getHash(), "graph hash");
  if (!hash) {
    log_->warn("dropped a graph blob: {}", hash.error().message);
    return;
  }
  if (!pending_ || !pending_->missing.contains(*hash)) {
    log_->warn("dropped graph blob {}: no plan being loaded asked for it", shortHash(*hash));
    return;
  }
  if (!blob.getFound()) return refusePending(fmt::format("the daemon no longer has graph {}", shortHash(*hash)));
  if (payload.size() != 1)
    return refusePending(
        fmt::format("graph blob {} came with {} frames, expected 1", shortHash(*hash), payload.size()));
  if (blob.getByteLength() != payload[0].size())
    return refusePending(fmt::format("graph blob {} says {} bytes, its frame holds {}", shortHash(*hash),
                                     blob.getByteLength(), payload[0].size()));
  uint64_t expected = 0;
  for (const proto::StageSpec& stage : pending_->plan.stages)
    if (stage.graphHash == *hash) expected = stage.graphBytes;
  Status stored =
      graphs_.insert(*hash, {static_cast<const std::byte*>(payload[0].data()), payload[0].size()}, expected);
  if (!stored) return refusePending(stored.error().message);
  pending_->missing.erase(*hash);
  maybeStartLoad();
}

void Agent::maybeStartLoad() {
  if (!pending_ || pending_->loading || !pending_->missing.empty()) return;
  LoadStages job;
  job.epoch = pending_->plan.epoch;
  job.threads = config_.threads;
  for (const proto::StageSpec& stage : pending_->plan.stages) {
    std::shared_ptr<const std::string> bytes = graphs_.get(stage.graphHash);
    if (!bytes) return refusePending(fmt::format("graph {} left the cache", shortHash(stage.graphHash)));
    job.graphs.emplace_back(stage.stage, std::move(bytes));
  }
  pending_->loading = true;
  worker_->post(std::move(job));
}

void Agent::checkPendingPlan(Clock::time_point now) {
  if (!pending_ || pending_->missing.empty() || now - pending_->requestedAt < GRAPH_RETRY) return;
  if (pending_->requests >= GRAPH_REQUESTS)
    return refusePending(fmt::format("{} graph(s) never arrived", pending_->missing.size()));
  ++pending_->requests;
  pending_->requestedAt = now;
  for (const proto::ContentHash& hash : pending_->missing) control_->sendGraphRequest(hash);
}

void Agent::onLoadDone(LoadStagesDone done) {
  if (!pending_ || pending_->plan.epoch != done.epoch) return;  // superseded while loading
  if (!done.sessions) return refusePending(done.sessions.error().message);
  proto::PlanSpec plan = std::move(pending_->plan);
  pending_.reset();
  log_->debug("epoch {}: stages loaded in {:.1f} ms", done.epoch, done.seconds * 1e3);
  acceptPlan(std::move(plan), std::move(*done.sessions));
}

void Agent::acceptPlan(proto::PlanSpec plan, std::map<uint32_t, LoadedSession> sessions) {
  Epoch epoch;
  for (const proto::StageSpec& stage : plan.stages) {
    LoadedSession& loaded = sessions.at(stage.stage);
    if (!sameValues(loaded.session->inputs(), stage.inputs) || !sameValues(loaded.session->outputs(), stage.outputs)) {
      return refusePlan(
          plan.epoch,
          fmt::format("stage {}'s graph takes ({}) and gives ({}), the plan says ({}) and ({})", stage.stage,
                      describeValues(loaded.session->inputs()), describeValues(loaded.session->outputs()),
                      describeValues(stage.inputs), describeValues(stage.outputs)));
    }
    epoch.stages[stage.stage] = LoadedStage{stage, loaded.session, loaded.nodes};
  }
  const uint64_t number = plan.epoch;
  const uint64_t abandonBefore = plan.abandonBefore;
  epoch.plan = std::move(plan);

  std::vector<std::string> described;
  for (const auto& [index, stage] : epoch.stages) {
    std::vector<std::string> routes;
    for (const proto::RouteSpec& route : stage.spec.next)
      routes.push_back(fmt::format("{} stage {}", route.agent, route.stage));
    described.push_back(
        fmt::format("stage {} ({}{} nodes, graph {}, inputs {}{}{} -> {})", index,
                    stage.spec.label.empty() ? "" : stage.spec.label + ", ", stage.nodes,
                    shortHash(stage.spec.graphHash), describeValues(stage.spec.inputs),
                    stage.spec.gathersInputs() ? fmt::format(" gathered from {} senders", stage.spec.upstream.size())
                                               : std::string(),
                    stage.spec.zeroedInputs.empty()
                        ? std::string()
                        : fmt::format(", zeros for {}", fmt::join(stage.spec.zeroedInputs, ", ")),
                    routes.empty() ? std::string("result to the origin") : fmt::format("{}", fmt::join(routes, ", "))));
  }
  std::vector<std::string> peerNames;
  for (const proto::PeerSpec& peer : epoch.plan.peers) peerNames.push_back(peer.name);
  const std::string entry = fmt::format("{} stage {}", epoch.plan.entry.agent, epoch.plan.entry.stage);

  std::vector<uint64_t> dropped = epochs_.accept(std::move(epoch));
  updateAllowList();
  data_->setPeers(epochs_.peers());
  // After the peers are set: failing a request here may start it again at once, under this epoch.
  if (const Epoch* oldest = epochs_.oldest())
    failGathered(gathered_.dropEpochsBelow(oldest->plan.epoch), wire::Failure::Reason::UNKNOWN_EPOCH,
                 "the epoch was dropped while its inputs were being gathered");
  control_->sendPlanAck(number, true, "");
  log_->info("plan epoch {} accepted: {}; entry {}; peers {}{}", number,
             described.empty() ? std::string("no stages here") : fmt::format("{}", fmt::join(described, "; ")), entry,
             peerNames.empty() ? std::string("none") : fmt::format("{}", fmt::join(peerNames, ", ")),
             abandonBefore > 0 ? fmt::format("; requests before epoch {} abandoned", abandonBefore) : std::string());
  for (uint64_t old : dropped)
    log_->info("epoch {} dropped (this agent keeps the newest {})", old, EpochStore::KEPT_EPOCHS);
  graphs_.trim(epochs_.graphHashes());
  replayFutures();
  runDue(abandonBefore);
}

// ---------------------------------------------------------------------------------------------
// Requests at their origin

void Agent::onSubmit(wire::Submit::Reader submit, std::span<const zmq::message_t> tensorFrames) {
  const uint64_t id = submit.getRequestId();
  auto headers = submit.getTensors();
  auto refuse = [&](const std::string& why) {
    ++counters_.droppedSubmits;
    log_->warn("request {} refused: {}", id, why);
    control_->sendFailed(id, 0, why);
  };
  if (isClientRequest(id)) return refuse("request ids with the top bit set are this agent's local clients'");
  if (Status frames = proto::checkTensorFrames(headers.size(), tensorFrames, limits_); !frames)
    return refuse(frames.error().message);
  if (origin_.find(id)) {
    ++counters_.droppedSubmits;
    log_->warn("request {}: duplicate submit dropped (the request is pending)", id);
    return;
  }
  std::vector<proto::WireTensor> inputs;
  for (unsigned i = 0; i < headers.size(); ++i) {
    Result<proto::WireTensor> tensor = proto::decodeTensor(
        headers[i], {static_cast<const std::byte*>(tensorFrames[i].data()), tensorFrames[i].size()}, limits_);
    if (!tensor) return refuse("input " + std::to_string(i) + ": " + tensor.error().message);
    for (const proto::WireTensor& other : inputs)
      if (other.name == tensor->name) return refuse(fmt::format("input '{}' appears twice", tensor->name));
    inputs.push_back(std::move(*tensor));
  }
  switch (origin_.submit(id, std::move(inputs), Clock::now())) {
    case OriginRequests::SubmitOutcome::Duplicate:
      return;  // checked above
    case OriginRequests::SubmitOutcome::Full:
      return refuse(fmt::format("this origin already holds {} requests", OriginRequests::MAX_PENDING));
    case OriginRequests::SubmitOutcome::Accepted:
      break;
  }
  if (epochs_.newestEpoch() == 0) {
    log_->info("request {} submitted; it waits for a plan", id);
    return;
  }
  log_->debug("request {} submitted", id);
  startRequest(id, OriginRequests::Reason::NotStarted);
}

void Agent::runDue(uint64_t abandonBefore) {
  OriginRequests::Due due = origin_.due(epochs_.newestEpoch(), abandonBefore, Clock::now());
  for (uint64_t id : due.giveUp) {
    std::optional<PendingRequest> request = origin_.complete(id);
    if (!request) continue;
    log_->warn("request {} failed: gave up after {} attempts", id, request->attempts);
    reportRequestFailed(id, request->epoch, fmt::format("gave up after {} attempts", request->attempts));
  }
  for (const OriginRequests::Run& run : due.run) startRequest(run.id, run.reason);
}

void Agent::startRequest(uint64_t id, OriginRequests::Reason reason) {
  const PendingRequest* request = origin_.find(id);
  const Epoch* epoch = epochs_.newest();
  if (request == nullptr || epoch == nullptr) return;
  const proto::RouteSpec& entry = epoch->plan.entry;
  if (entry.agent == config_.name) {
    // The entry stage runs here: inputs that do not fit the model will not fit any plan of it.
    const LoadedStage& stage = epoch->stages.at(entry.stage);
    if (isClientRequest(id)) {
      // As the daemon does for the model's inputs: an unnamed tensor is the input at its position.
      std::vector<std::string> names;
      for (const ValueInfo& input : stage.spec.inputs) names.push_back(input.name);
      origin_.nameInputs(id, names);
    }
    if (Result<std::vector<Tensor>> inputs = stageInputs(stage.spec.inputs, request->inputs); !inputs) {
      std::optional<PendingRequest> failed = origin_.complete(id);
      log_->warn("request {} failed: its inputs do not fit the model: {}", id, inputs.error().message);
      reportRequestFailed(id, epoch->plan.epoch, "inputs do not fit the model: " + inputs.error().message);
      return;
    }
  } else if (isClientRequest(id)) {
    // Only the origin holds a client's request: results come back to the plan's origin, not here.
    std::optional<PendingRequest> failed = origin_.complete(id);
    reportRequestFailed(id, epoch->plan.epoch, notOriginReason(*epoch));
    return;
  }
  if (request->epoch != 0) {
    ++counters_.reruns;
    const char* why = reason == OriginRequests::Reason::Abandoned  ? "the plan abandoned"
                      : reason == OriginRequests::Reason::TimedOut ? "no result for 10 s under"
                                                                   : "a failure under";
    log_->info("request {} runs again under epoch {} (attempt {}: {} epoch {})", id, epoch->plan.epoch,
               request->attempts + 1, why, request->epoch);
  }
  origin_.started(id, epoch->plan.epoch, Clock::now());
  proto::TensorMessage message;
  message.kind = proto::TensorMessageKind::Activations;
  message.requestId = id;
  message.epoch = epoch->plan.epoch;
  message.stage = entry.stage;
  message.origin = config_.name;
  message.tensors = request->inputs;  // shares the storage: the inputs are never written
  deliverActivations(entry.agent, std::move(message));
}

void Agent::deliverActivations(const std::string& agent, proto::TensorMessage message) {
  if (agent == config_.name) return takeActivations(std::move(message), config_.name);
  const std::string origin = message.origin;
  const uint64_t id = message.requestId, epoch = message.epoch;
  if (Status sent = data_->sendTensorMessage(agent, std::move(message)); !sent)
    reportFailure(origin, id, epoch, wire::Failure::Reason::OVERLOADED, sent.error().message);
}

void Agent::takeActivations(proto::TensorMessage message, const std::string& sender) {
  StageLookup lookup = lookupStage(message.epoch, message.stage);
  switch (lookup.status) {
    case StageStatus::FutureEpoch:
      return bufferFuture(std::move(message), sender);
    case StageStatus::UnknownEpoch:
      return reportFailure(message.origin, message.requestId, message.epoch, wire::Failure::Reason::UNKNOWN_EPOCH,
                           fmt::format("'{}' keeps no stages of epoch {}", config_.name, message.epoch));
    case StageStatus::UnknownStage:
      return reportFailure(
          message.origin, message.requestId, message.epoch, wire::Failure::Reason::UNKNOWN_STAGE,
          fmt::format("'{}' does not run stage {} under epoch {}", config_.name, message.stage, message.epoch));
    case StageStatus::Ready:
      break;
  }
  const LoadedStage& stage = epochs_.find(message.epoch)->stages.at(message.stage);
  if (stage.spec.gathersInputs()) {
    // Each sender brings some of the inputs: the stage runs once the set is whole.
    const std::string origin = message.origin;
    const uint64_t id = message.requestId, epoch = message.epoch;
    const uint32_t index = message.stage;
    FanIn::Offer offer = gathered_.offer(stage.spec.inputs, stage.spec.zeroedInputs, std::move(message), Clock::now());
    switch (offer.outcome) {
      case FanIn::Outcome::Waiting:
        log_->debug("request {}: stage {} of epoch {} has inputs from {}, waits for the rest", id, index, epoch, sender);
        return;
      case FanIn::Outcome::Duplicate:
        ++counters_.duplicateInputs;
        return;
      case FanIn::Outcome::Unexpected:
        return reportFailure(origin, id, epoch, wire::Failure::Reason::BAD_MESSAGE,
                             fmt::format("stage {} inputs from {}: {}", index, sender, offer.detail));
      case FanIn::Outcome::Full:
        return reportFailure(origin, id, epoch, wire::Failure::Reason::OVERLOADED,
                             fmt::format("stage {} on '{}': {}", index, config_.name, offer.detail));
      case FanIn::Outcome::Complete:
        break;
    }
    message = proto::TensorMessage{};
    message.kind = proto::TensorMessageKind::Activations;
    message.requestId = id;
    message.epoch = epoch;
    message.stage = index;
    message.origin = origin;
    message.tensors = std::move(offer.inputs);
    message.zeroedInputs = std::move(offer.zeroedUpstream);
  }
  Result<std::vector<Tensor>> inputs = stageInputs(stage.spec.inputs, message.tensors);
  if (!inputs)
    return reportFailure(message.origin, message.requestId, message.epoch, wire::Failure::Reason::BAD_MESSAGE,
                         fmt::format("stage {} inputs: {}", message.stage, inputs.error().message));
  StageRun job;
  job.requestId = message.requestId;
  job.epoch = message.epoch;
  job.stage = message.stage;
  job.origin = std::move(message.origin);
  job.session = stage.session;
  job.inputs = std::move(*inputs);
  job.next = stage.spec.next;
  for (const ValueInfo& output : stage.spec.outputs) job.outputNames.push_back(output.name);
  job.queuedAt = Clock::now();
  job.predictedSeconds = stage.spec.predictedSeconds;
  // What this stage feeds as zeros, and what stages before it did: the result names them all.
  job.zeroedInputs = std::move(message.zeroedInputs);
  for (const std::string& name : stage.spec.zeroedInputs)
    if (std::find(job.zeroedInputs.begin(), job.zeroedInputs.end(), name) == job.zeroedInputs.end())
      job.zeroedInputs.push_back(name);
  job.exitOutput = stage.spec.exitOutput;
  job.exitThreshold = stage.spec.exitThreshold;
  if (config_.paceCompute) job.minSeconds = stage.spec.predictedSeconds;
  log_->debug("request {}: stage {} of epoch {} queued (from {})", job.requestId, job.stage, job.epoch, sender);
  ++jobsInFlight_;
  worker_->post(std::move(job));
}

void Agent::onStageDone(StageRunDone done) {
  if (jobsInFlight_ > 0) --jobsInFlight_;
  const StageRun& job = done.job;
  if (!done.outputs) {
    ++counters_.stageErrors;
    log_->error("request {}: stage {} of epoch {} failed: {}", job.requestId, job.stage, job.epoch,
                done.outputs.error().message);
    return reportFailure(job.origin, job.requestId, job.epoch, wire::Failure::Reason::STAGE_FAILED,
                         fmt::format("stage {}: {}", job.stage, done.outputs.error().message));
  }
  Timing& timing = timings_[{job.epoch, job.stage}];
  timing.runs += 1;
  timing.total += done.seconds;
  timing.max = std::max(timing.max, done.seconds);

  std::vector<proto::WireTensor> outputs;
  for (size_t i = 0; i < done.outputs->size() && i < job.outputNames.size(); ++i)
    outputs.push_back(proto::WireTensor{job.outputNames[i], (*done.outputs)[i], std::nullopt, 1, 0});
  log_->debug("request {}: stage {} of epoch {} ran in {:.3f} ms", job.requestId, job.stage, job.epoch,
              done.seconds * 1e3);
  // An exit head decides here: a request that ends sends its scores alone, as the result.
  bool exits = false;
  if (!job.exitOutput.empty()) {
    auto head = std::find_if(outputs.begin(), outputs.end(),
                             [&](const proto::WireTensor& t) { return t.name == job.exitOutput; });
    Result<bool> decided = head == outputs.end() ? Result<bool>(Error{"the exit head's output is missing"})
                                                 : exitsHere(head->tensor, job.exitThreshold);
    if (!decided) {
      ++counters_.stageErrors;
      return reportFailure(job.origin, job.requestId, job.epoch, wire::Failure::Reason::STAGE_FAILED,
                           fmt::format("stage {}'s exit head: {}", job.stage, decided.error().message));
    }
    exits = *decided;
    if (exits || job.next.empty()) outputs = {std::move(*head)};
  }
  if (exits || job.next.empty()) {
    proto::TensorMessage result;
    result.kind = proto::TensorMessageKind::Result;
    result.requestId = job.requestId;
    result.epoch = job.epoch;
    result.stage = job.stage;
    result.origin = job.origin;
    result.tensors = std::move(outputs);
    result.zeroedInputs = job.zeroedInputs;
    return deliverResult(std::move(result));
  }
  for (const proto::RouteSpec& route : job.next) {
    proto::TensorMessage message;
    message.kind = proto::TensorMessageKind::Activations;
    message.requestId = job.requestId;
    message.epoch = job.epoch;
    message.stage = route.stage;
    message.origin = job.origin;
    message.zeroedInputs = job.zeroedInputs;
    for (const proto::WireTensor& output : outputs)
      if (route.tensors.empty() ||
          std::find(route.tensors.begin(), route.tensors.end(), output.name) != route.tensors.end())
        message.tensors.push_back(output);
    deliverActivations(route.agent, std::move(message));
  }
}

void Agent::deliverResult(proto::TensorMessage message) {
  if (message.origin == config_.name) return onResult(std::move(message), config_.name);
  const uint64_t id = message.requestId;
  const std::string origin = message.origin;
  if (Status sent = data_->sendTensorMessage(origin, std::move(message)); !sent)
    log_->warn("request {}: result not sent to its origin '{}': {}", id, origin, sent.error().message);
}

void Agent::onResult(proto::TensorMessage message, const std::string& sender) {
  std::optional<PendingRequest> request = origin_.complete(message.requestId);
  if (!request) {
    ++counters_.duplicateResults;
    log_->info("request {}: duplicate result under epoch {} from {} dropped", message.requestId, message.epoch, sender);
    return;
  }
  if (isClientRequest(message.requestId))
    finishClientRequest(message);
  else
    control_->sendCompleted(message.requestId, message.epoch, message.tensors, message.stage, message.zeroedInputs);
  log_->info("request {} completed under epoch {} ({} attempt{}, {:.1f} ms)", message.requestId, message.epoch,
             request->attempts, request->attempts == 1 ? "" : "s",
             Seconds(Clock::now() - request->submittedAt).count() * 1e3);
}

void Agent::reportFailure(const std::string& origin, uint64_t requestId, uint64_t epoch, wire::Failure::Reason reason,
                          const std::string& detail) {
  if (origin == config_.name) return onFailure(requestId, epoch, reason, detail, config_.name);
  if (Status sent = data_->sendFailure(origin, requestId, epoch, reason, detail); !sent)
    log_->warn("request {}: cannot report '{}' to its origin '{}' ({}); its timer will re-run it", requestId,
               failureReasonName(reason), origin, sent.error().message);
}

void Agent::onFailure(uint64_t requestId, uint64_t epoch, wire::Failure::Reason reason, const std::string& detail,
                      const std::string& sender) {
  if (origin_.find(requestId) == nullptr) {
    ++counters_.strayFailures;
    log_->info("failure for request {} (epoch {}) from {} dropped: not pending here", requestId, epoch, sender);
    return;
  }
  ++counters_.failuresReceived;
  // A peer that dropped the epoch (or runs other stages under it) has newer plans than this
  // origin: the request waits for one rather than failing the same way again.
  const bool peerMovedOn =
      reason == wire::Failure::Reason::UNKNOWN_EPOCH || reason == wire::Failure::Reason::UNKNOWN_STAGE;
  const bool current = origin_.failed(requestId, epoch, peerMovedOn);
  log_->warn("request {} failed under epoch {} at {}: {}: {}{}", requestId, epoch, sender, failureReasonName(reason),
             detail, current ? "" : " (an abandoned attempt; ignored)");
  if (current) runDue(0);
}

// ---------------------------------------------------------------------------------------------
// Requests from local clients (the client socket), kept by the same origin machinery

std::string Agent::notOriginReason(const Epoch& epoch) const {
  return fmt::format("'{}' is not the origin under plan epoch {}: send requests to '{}', where they start",
                     config_.name, epoch.plan.epoch, epoch.plan.entry.agent);
}

void Agent::onClientInfer(ClientInfer request) {
  auto refuse = [&](const std::string& why) {
    ++counters_.clientErrors;
    log_->warn("client {}: request {} refused: {}", request.client, request.operatorId, why);
    client_->sendError(request.connection, request.operatorId, why);
  };
  if (const Epoch* epoch = epochs_.newest(); epoch != nullptr && epoch->plan.entry.agent != config_.name)
    return refuse(notOriginReason(*epoch));
  if (clientRequests_.size() >= MAX_CLIENT_REQUESTS)
    return refuse(fmt::format("this agent already holds {} client requests", MAX_CLIENT_REQUESTS));
  const uint64_t id = CLIENT_ID_BIT | ++nextClientId_;
  const Clock::time_point now = Clock::now();
  switch (origin_.submit(id, std::move(request.inputs), now)) {
    case OriginRequests::SubmitOutcome::Duplicate:  // ids are this agent's own: cannot happen
    case OriginRequests::SubmitOutcome::Full:
      return refuse(fmt::format("this origin already holds {} requests", origin_.size()));
    case OriginRequests::SubmitOutcome::Accepted:
      break;
  }
  ClientRequest held;
  held.connection = std::move(request.connection);
  held.client = request.client;
  held.operatorId = request.operatorId;
  held.timeoutSeconds = request.timeoutSeconds;
  held.receivedAt = now;
  held.deadline = now + std::chrono::duration_cast<Clock::duration>(Seconds(request.timeoutSeconds));
  clientRequests_.emplace(id, std::move(held));
  if (epochs_.newestEpoch() == 0) {
    log_->info("request {} from client {} (its request {}) waits for a plan, at most {:g} s", id, request.client,
               request.operatorId, request.timeoutSeconds);
    return;
  }
  log_->debug("request {} from client {} (its request {})", id, request.client, request.operatorId);
  startRequest(id, OriginRequests::Reason::NotStarted);
}

void Agent::finishClientRequest(const proto::TensorMessage& result) {
  auto it = clientRequests_.find(result.requestId);
  if (it == clientRequests_.end()) return;
  const ClientRequest& request = it->second;
  client_->sendResult(request.connection, request.operatorId, result.requestId, result.epoch,
                      Seconds(Clock::now() - request.receivedAt).count(), result.stage, result.tensors,
                      result.zeroedInputs);
  clientRequests_.erase(it);
}

void Agent::reportRequestFailed(uint64_t id, uint64_t epoch, const std::string& reason) {
  if (!isClientRequest(id)) return control_->sendFailed(id, epoch, reason);
  auto it = clientRequests_.find(id);
  if (it == clientRequests_.end()) return;
  ++counters_.clientErrors;
  client_->sendError(it->second.connection, it->second.operatorId, reason);
  clientRequests_.erase(it);
}

void Agent::expireClientRequests(Clock::time_point now) {
  for (auto it = clientRequests_.begin(); it != clientRequests_.end();) {
    if (it->second.deadline > now) {
      ++it;
      continue;
    }
    const uint64_t id = it->first;
    std::optional<PendingRequest> request = origin_.complete(id);  // a late result is then a duplicate
    const std::string reason =
        request && request->epoch == 0
            ? fmt::format("no plan accepted within {:g} s", it->second.timeoutSeconds)
            : fmt::format("no result within {:g} s", it->second.timeoutSeconds);
    log_->warn("request {} from client {} failed: {}", id, it->second.client, reason);
    ++counters_.clientErrors;
    client_->sendError(it->second.connection, it->second.operatorId, reason);
    it = clientRequests_.erase(it);
  }
}

// ---------------------------------------------------------------------------------------------
// Stages by epoch, and data for epochs not accepted yet

DataHandler::StageLookup Agent::lookupStage(uint64_t epoch, uint32_t stage) {
  if (const Epoch* kept = epochs_.find(epoch)) {
    auto it = kept->stages.find(stage);
    if (it == kept->stages.end()) return {StageStatus::UnknownStage, nullptr};
    return {StageStatus::Ready, &it->second.spec.inputs, it->second.spec.gathersInputs()};
  }
  // A faster peer may already run an epoch whose plan is still on its way here: hold its data.
  if (epoch > epochs_.newestEpoch()) return {StageStatus::FutureEpoch, nullptr};
  return {StageStatus::UnknownEpoch, nullptr};
}

void Agent::onActivations(proto::TensorMessage message, const std::string& sender) {
  takeActivations(std::move(message), sender);
}

void Agent::bufferFuture(proto::TensorMessage message, const std::string& sender) {
  uint64_t bytes = 0;
  for (const proto::WireTensor& t : message.tensors) bytes += t.tensor.bytes();
  if (future_.size() >= MAX_FUTURE_MESSAGES || futureBytes_ + bytes > MAX_FUTURE_BYTES)
    return reportFailure(message.origin, message.requestId, message.epoch, wire::Failure::Reason::OVERLOADED,
                         fmt::format("'{}' holds too much data for epochs it has not accepted", config_.name));
  log_->info("request {}: data for epoch {} held until its plan is accepted", message.requestId, message.epoch);
  futureBytes_ += bytes;
  future_.push_back(FutureMessage{std::move(message), sender, Clock::now(), bytes});
}

void Agent::replayFutures() {
  std::deque<FutureMessage> waiting;
  waiting.swap(future_);
  futureBytes_ = 0;
  for (FutureMessage& held : waiting) {
    if (held.message.epoch > epochs_.newestEpoch()) {
      futureBytes_ += held.bytes;
      future_.push_back(std::move(held));
      continue;
    }
    takeActivations(std::move(held.message), held.sender);
  }
}

void Agent::failGathered(const std::vector<FanIn::Expired>& expired, wire::Failure::Reason reason,
                         const std::string& why) {
  for (const FanIn::Expired& set : expired) {
    ++counters_.incompleteInputs;
    const std::string detail = fmt::format("stage {} on '{}': {}; missing {}", set.stage, config_.name, why,
                                           fmt::join(set.missing, ", "));
    log_->warn("request {} (epoch {}) failed back to '{}': {}", set.requestId, set.epoch, set.origin, detail);
    reportFailure(set.origin, set.requestId, set.epoch, reason, detail);
  }
}

void Agent::expireFutures(Clock::time_point now) {
  while (!future_.empty() && now - future_.front().receivedAt >= FUTURE_WAIT) {
    FutureMessage held = std::move(future_.front());
    future_.pop_front();
    futureBytes_ -= held.bytes;
    reportFailure(held.message.origin, held.message.requestId, held.message.epoch, wire::Failure::Reason::UNKNOWN_EPOCH,
                  fmt::format("'{}' never accepted epoch {}", config_.name, held.message.epoch));
  }
}

}  // namespace cleave::agent
