// The operator socket: cleavectl's requests (status, agents, plan show/apply, replan, infer,
// watch, link set), one handler each.
#include <cmath>

#include <capnp/message.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <toml++/toml.h>

#include "daemon/daemon.h"
#include "daemon/fleet_planning.h"
#include "planner/plan_check.h"
#include "proto/message_codec.h"

namespace cleave::daemon {
namespace {

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// An infer request that names no timeout (0) gets this one.
constexpr double DEFAULT_INFER_TIMEOUT = 30;

}  // namespace

void Daemon::onOperator(Frames& frames) {
  std::optional<proto::DecodedMessage> decoded = decodeFrames(frames);
  if (!decoded) return;
  std::string id = frames[0].to_string();
  std::span<zmq::message_t> rest(frames.begin() + 2, frames.end());
  Status handled = proto::decodeGuard("operator message", [&]() -> Status {
    Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
    if (!root) return root.error();
    if (root->isHello()) {
      handleHello(id, root->getHello(), true);
      return {};
    }
    if (!helloedOperators_.count(id)) return Error{"operator request before hello"};
    if (!root->isOperatorRequest()) return Error{"not an operator request"};
    handleOperatorRequest(id, root->getOperatorRequest(), rest);
    return {};
  });
  if (!handled) {
    ++counters_.badMessages;
    spdlog::debug("dropped an operator message: {}", handled.error().message);
  }
}

void Daemon::handleOperatorRequest(const std::string& id, wire::OperatorRequest::Reader request,
                                   std::span<zmq::message_t> tensorFrames) {
  uint64_t rid = request.getId();
  switch (request.which()) {
    case wire::OperatorRequest::STATUS: return replyStatus(id, rid);
    case wire::OperatorRequest::AGENTS: return replyAgents(id, rid);
    case wire::OperatorRequest::PLAN_SHOW:
      if (!current_) return replyError(id, rid, "no plan yet: waiting for the source and sink agents");
      return replyPlan(id, rid, &*current_, true);
    case wire::OperatorRequest::PLAN_APPLY: return handlePlanApply(id, rid, request.getPlanApply());
    case wire::OperatorRequest::REPLAN: {
      uint64_t before = epoch_;
      if (current_ && !request.getReplan().getForce())
        adaptToLinks(true);
      else
        replan("operator asked", false, request.getReplan().getForce());
      if (!current_) return replyError(id, rid, "no plan can be made: the source or sink is offline, or nothing fits");
      return replyPlan(id, rid, &*current_, epoch_ != before);
    }
    case wire::OperatorRequest::INFER: return handleInfer(id, rid, request.getInfer(), tensorFrames);
    case wire::OperatorRequest::WATCH: {
      auto w = request.getWatch();
      bool any = w.getTelemetry() || w.getPlans() || w.getAgents();
      watchers_.push_back({id, rid, !any || w.getTelemetry(), !any || w.getPlans(), !any || w.getAgents()});
      spdlog::info("an operator watches (request {})", rid);
      return;
    }
    case wire::OperatorRequest::LINK_SET: return handleLinkSet(id, rid, request.getLinkSet());
  }
  capnp::MallocMessageBuilder reply;
  reply.initRoot<wire::ControlMessage>().initUnimplemented().setWhich(static_cast<uint16_t>(request.which()));
  send(operator_, id, reply);
}

void Daemon::replyError(const std::string& id, uint64_t requestId, const std::string& message) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(requestId);
  r.setFinal(true);
  r.setError(message.substr(0, 1024));
  send(operator_, id, reply);
}

void Daemon::replyStatus(const std::string& id, uint64_t requestId) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(requestId);
  r.setFinal(true);
  auto s = r.initStatus();
  s.setEpoch(current_ ? current_->epoch : 0);
  s.setStrategy(current_ ? wireStrategy(current_->plan.strategy) : wire::Strategy::SPLIT);
  s.setAgentsOnline(static_cast<uint32_t>(registry_.onlineCount()));
  s.setAgentsKnown(static_cast<uint32_t>(registry_.all().size()));
  s.setRequestsCompleted(counters_.results);
  s.setRequestsFailed(counters_.failed);
  s.setDroppedMessages(counters_.badMessages + counters_.drops);
  s.setRefusedConnections(zap_->refusedCount());
  s.setPredictedLatencySeconds(current_ ? current_->plan.latencySeconds : 0);
  s.setRequestsReceived(counters_.requests);
  s.setReplans(counters_.replans);
  if (current_) fillPlanSummary(s.initPlan(), *current_, true);
  send(operator_, id, reply);
}

void Daemon::replyAgents(const std::string& id, uint64_t requestId) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(requestId);
  r.setFinal(true);
  auto list = r.initAgents(static_cast<unsigned>(registry_.all().size()));
  for (unsigned i = 0; i < list.size(); ++i) {
    const AgentRecord& a = registry_.all()[i];
    auto info = list[i];
    info.setName(a.name);
    info.setFingerprint(a.fingerprint);
    info.setOnline(a.online);
    info.setStalled(a.stalled);
    info.setLastSeenSeconds(a.lastSeen == Clock::time_point{} ? 0 : secondsSince(a.lastSeen));
    info.setEpoch(a.ackedEpoch);
    info.setQueueDepth(a.queueDepth);
    info.setDataEndpoint(a.dataEndpoint);
    if (current_) {
      std::vector<std::string> held;
      for (const FleetStage* s : current_->stagesOf(a.name))
        held.push_back(fmt::format("stage {}: {}", s->index, s->label == "relay" ? "relays" : s->label));
      info.setStages(fmt::format("{}", fmt::join(held, ", ")));
    }
    auto p = info.initProfile();
    p.setKind(a.profile.kind);
    auto rates = p.initMacsPerSecond();
    rates.setConv(a.profile.macsPerSecond[0]);
    rates.setDepthwise(a.profile.macsPerSecond[1]);
    rates.setGemm(a.profile.macsPerSecond[2]);
    rates.setElementwise(a.profile.macsPerSecond[3]);
    rates.setOther(a.profile.macsPerSecond[4]);
    p.setNodeOverheadSeconds(a.profile.nodeOverheadSeconds);
    p.setRamBytes(static_cast<uint64_t>(a.profile.ramBytes));
    p.setFlashBytes(static_cast<uint64_t>(a.profile.flashBytes.value_or(0)));
    p.setJoulesPerMac(a.profile.joulesPerMac);
    p.setRadioJoulesPerByte(a.profile.radioJoulesPerByte);
    p.setMeasured(a.measured);
  }
  send(operator_, id, reply);
}

void Daemon::replyPlan(const std::string& id, uint64_t requestId, const FleetPlan* plan, bool installed) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(requestId);
  r.setFinal(true);
  fillPlanSummary(r.initPlan(), *plan, installed);
  send(operator_, id, reply);
}

void Daemon::handlePlanApply(const std::string& id, uint64_t requestId, wire::PlanApply::Reader apply) {
  Result<std::string> text = proto::readText(apply.getToml(), 64 * 1024, "planApply.toml");
  if (!text) return replyError(id, requestId, text.error().message);
  Result<OnlinePlan> evaluated = Error{"no plan"};
  try {
    toml::table t = toml::parse(std::string_view(*text), std::string_view("plan"));
    // Each element of `key` as a string (nullopt, with an error sent, when it is not that).
    auto names = [&](const char* key) -> std::optional<std::vector<std::string>> {
      const toml::array* list = t[key].as_array();
      if (!list) return std::nullopt;
      std::vector<std::string> out;
      for (const toml::node& n : *list)
        if (auto s = n.value<std::string>()) out.push_back(*s);
        else return std::nullopt;
      return out;
    };
    const std::string strategy = t["strategy"].value<std::string>().value_or("split");
    std::optional<planner::Strategy> parsed = planner::strategyFromName(strategy);
    if (parsed && std::find(config_.allowed.begin(), config_.allowed.end(), *parsed) == config_.allowed.end())
      return replyError(id, requestId,
                        fmt::format("plan apply: the bundle '{}' cannot run {} plans", config_.bundle.name, strategy));
    if (strategy == "split") {
      std::optional<std::vector<std::string>> route = names("route");
      const toml::array* c = t["cuts"].as_array();
      if (!t["route"].as_array() || !c)
        return replyError(id, requestId, "plan apply: a split plan needs 'route' (device names) and 'cuts' (positions)");
      if (!route) return replyError(id, requestId, "plan apply: 'route' must hold device names");
      std::vector<int64_t> cuts;
      for (const toml::node& n : *c)
        if (auto v = n.value<int64_t>()) cuts.push_back(*v);
        else return replyError(id, requestId, "plan apply: 'cuts' must hold integers");
      evaluated = evaluateOnline(problemNow(), onlineAgents(), *route, cuts);
    } else if (strategy == "nonn") {
      std::optional<std::vector<std::string>> students = names("students");
      std::optional<std::string> fusion = t["fusion"].value<std::string>();
      if (!students || !fusion)
        return replyError(id, requestId,
                          "plan apply: a nonn plan needs 'students' (a device name per student, \"\" for one left "
                          "out) and 'fusion' (a device name)");
      evaluated = evaluateNonnOnline(problemNow(), onlineAgents(), *students, *fusion);
    } else {
      return replyError(id, requestId, fmt::format("plan apply: strategy '{}' cannot be applied by hand yet", strategy));
    }
  } catch (const toml::parse_error& e) {
    return replyError(id, requestId, fmt::format("plan apply: line {}: {}", e.source().begin.line, e.description()));
  }
  if (!evaluated) return replyError(id, requestId, fmt::format("plan apply: {}", evaluated.error().message));
  Status valid = planner::checkPlan(evaluated->plan, evaluated->problem);
  if (!valid) return replyError(id, requestId, fmt::format("plan apply: the plan is not valid: {}", valid.error().message));
  Result<FleetPlan> built = buildFleetPlan(config_.bundle, evaluated->plan, evaluated->names);
  if (!built) return replyError(id, requestId, fmt::format("plan apply: {}", built.error().message));
  if (apply.getDryRun()) return replyPlan(id, requestId, &*built, false);
  built->reason = "operator applied a plan";
  install(std::move(*built));
  replyPlan(id, requestId, &*current_, true);
}

void Daemon::handleInfer(const std::string& id, uint64_t requestId, wire::Infer::Reader infer,
                         std::span<zmq::message_t> tensorFrames) {
  auto headers = infer.getTensors();
  if (headers.size() != tensorFrames.size() || headers.size() == 0 || headers.size() > limits_.maxTensors)
    return replyError(id, requestId, "infer: one tensor frame per header, 1 to 16 tensors");
  const std::vector<ValueInfo>& inputs = config_.bundle.requestInputs();
  if (headers.size() != inputs.size())
    return replyError(id, requestId, fmt::format("infer: the model takes {} inputs, got {}", inputs.size(), headers.size()));
  PendingInfer p;
  for (unsigned i = 0; i < headers.size(); ++i) {
    std::span<const std::byte> bytes(static_cast<const std::byte*>(tensorFrames[i].data()), tensorFrames[i].size());
    Result<proto::WireTensor> t = proto::decodeTensor(headers[i], bytes, limits_, &inputs[i].type);
    if (!t) return replyError(id, requestId, fmt::format("infer: input {}: {}", i, t.error().message));
    if (t->name.empty()) t->name = inputs[i].name;  // one unnamed tensor per input, in order
    if (t->name != inputs[i].name)
      return replyError(id, requestId, fmt::format("infer: input {} is '{}', the model's is '{}'", i, t->name, inputs[i].name));
    p.inputs.push_back(std::move(*t));
  }
  double timeout = infer.getTimeoutSeconds();
  if (!(std::isfinite(timeout) && timeout > 0)) timeout = DEFAULT_INFER_TIMEOUT;
  p.operatorId = id;
  p.operatorRequestId = requestId;
  p.started = Clock::now();
  p.deadline = p.started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::min(timeout, 3600.0)));
  uint64_t daemonId = ++nextRequestId_;
  pending_.emplace(daemonId, std::move(p));
  ++counters_.requests;
  dispatchPending();
}

}  // namespace cleave::daemon
