// The operator API: cleavectl's requests (status, agents, plan show/apply, replan, infer, watch,
// link set), one short handler each; the parts they drive do the work.
#include <cmath>

#include <capnp/message.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "daemon/daemon.h"
#include "planner/units.h"
#include "proto/message_codec.h"

namespace cleave::daemon {
namespace {

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

}  // namespace

void Daemon::onOperatorRequest(const std::string& id, wire::OperatorRequest::Reader request,
                               std::span<zmq::message_t> tensorFrames) {
  uint64_t rid = request.getId();
  switch (request.which()) {
    case wire::OperatorRequest::STATUS: return replyStatus(id, rid);
    case wire::OperatorRequest::AGENTS: return replyAgents(id, rid);
    case wire::OperatorRequest::PLAN_SHOW:
      if (!keeper_.current()) return server_->replyError(id, rid, "no plan yet: waiting for the source and sink agents");
      return replyPlan(id, rid, *keeper_.current(), true);
    case wire::OperatorRequest::PLAN_APPLY: return handlePlanApply(id, rid, request.getPlanApply());
    case wire::OperatorRequest::REPLAN: return handleReplan(id, rid, request.getReplan());
    case wire::OperatorRequest::INFER:
      relay_.accept(id, rid, request.getInfer(), tensorFrames);
      return dispatch();
    case wire::OperatorRequest::WATCH: return watchers_.add(id, rid, request.getWatch());
    case wire::OperatorRequest::LINK_SET: return handleLinkSet(id, rid, request.getLinkSet());
  }
  server_->replyUnimplemented(true, id, static_cast<uint16_t>(request.which()));
}

void Daemon::replyDone(const std::string& id, uint64_t requestId) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(requestId);
  r.setFinal(true);
  r.setDone();
  server_->sendToOperator(id, reply);
}

void Daemon::replyStatus(const std::string& id, uint64_t requestId) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(requestId);
  r.setFinal(true);
  auto s = r.initStatus();
  const FleetPlan* current = keeper_.current();
  s.setEpoch(current ? current->epoch : 0);
  s.setStrategy(current ? wireStrategy(current->plan.strategy) : wire::Strategy::SPLIT);
  s.setAgentsOnline(static_cast<uint32_t>(registry_.onlineCount()));
  s.setAgentsKnown(static_cast<uint32_t>(registry_.all().size()));
  s.setRequestsCompleted(counters_.results);
  s.setRequestsFailed(counters_.failed);
  const ServerCounters& server = server_->counters();
  s.setDroppedMessages(counters_.badMessages + counters_.drops + server.badMessages + server.drops);
  s.setRefusedConnections(server_->refusedConnections());
  s.setPredictedLatencySeconds(current ? current->plan.latencySeconds : 0);
  s.setRequestsReceived(counters_.requests);
  s.setReplans(counters_.replans);
  if (current) fillPlanSummary(s.initPlan(), *current, true);
  server_->sendToOperator(id, reply);
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
    if (const FleetPlan* current = keeper_.current()) {
      std::vector<std::string> held;
      for (const FleetStage* s : current->stagesOf(a.name))
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
  server_->sendToOperator(id, reply);
}

void Daemon::replyPlan(const std::string& id, uint64_t requestId, const FleetPlan& plan, bool installed) {
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(requestId);
  r.setFinal(true);
  fillPlanSummary(r.initPlan(), plan, installed);
  server_->sendToOperator(id, reply);
}

void Daemon::handlePlanApply(const std::string& id, uint64_t requestId, wire::PlanApply::Reader apply) {
  Result<std::string> text = proto::readText(apply.getToml(), 64 * 1024, "planApply.toml");
  if (!text) return server_->replyError(id, requestId, text.error().message);
  Result<AppliedPlan> applied = parsePlanApply(*text);
  if (!applied) return server_->replyError(id, requestId, applied.error().message);
  Result<FleetPlan> built = keeper_.evaluate(*applied);
  if (!built) return server_->replyError(id, requestId, fmt::format("plan apply: {}", built.error().message));
  if (apply.getDryRun()) return replyPlan(id, requestId, *built, false);
  built->reason = "operator applied a plan";
  keeper_.installApplied(std::move(*built));
  replyPlan(id, requestId, *keeper_.current(), true);
}

void Daemon::handleReplan(const std::string& id, uint64_t requestId, wire::Replan::Reader replan) {
  uint64_t before = keeper_.epoch();
  keeper_.operatorReplan(replan.getForce());
  if (!keeper_.current())
    return server_->replyError(id, requestId, "no plan can be made: the source or sink is offline, or nothing fits");
  replyPlan(id, requestId, *keeper_.current(), keeper_.epoch() != before);
}

void Daemon::handleLinkSet(const std::string& id, uint64_t requestId, wire::LinkSet::Reader linkSet) {
  Result<std::string> from = proto::readText(linkSet.getFrom(), 64, "linkSet.from");
  Result<std::string> to = proto::readText(linkSet.getTo(), 64, "linkSet.to");
  if (!from || !to) return server_->replyError(id, requestId, "link set: bad device names");
  AgentRecord* agent = registry_.find(*from);
  if (!agent || !registry_.find(*to))
    return server_->replyError(id, requestId, fmt::format("link set: no device '{}' or '{}'", *from, *to));
  switch (linkSet.which()) {
    case wire::LinkSet::PIN: {
      const double rtt = linkSet.getPin().getRttSeconds();
      Status pinned = keeper_.pin(*from, *to, linkSet.getPin().getBytesPerSecond(),
                                  rtt < 0 ? std::nullopt : std::optional<double>(rtt));
      if (!pinned) return server_->replyError(id, requestId, "link set: " + pinned.error().message);
      spdlog::info("operator pinned link {} -> {} at {}", *from, *to,
                   planner::formatBandwidth(linkSet.getPin().getBytesPerSecond()));
      break;
    }
    case wire::LinkSet::CLEAR: {
      if (Status cleared = keeper_.clearPin(*from, *to); !cleared)
        return server_->replyError(id, requestId, "link set: " + cleared.error().message);
      spdlog::info("operator released the pin on link {} -> {}", *from, *to);
      break;
    }
    case wire::LinkSet::SHAPE: {
      if (!agent->online)
        return server_->replyError(id, requestId, fmt::format("link shape: agent '{}' is offline", *from));
      capnp::MallocMessageBuilder message;
      auto shape = message.initRoot<wire::ControlMessage>().initLinkShape();
      shape.setPeer(*to);
      shape.setBytesPerSecond(linkSet.getShape().getBytesPerSecond());
      shape.setRttSeconds(linkSet.getShape().getRttSeconds());
      shape.setTrace(linkSet.getShape().getTrace());
      server_->sendToAgent(agent->routingId, message);
      break;
    }
    default:
      return server_->replyError(id, requestId, "link set: unknown action");
  }
  replyDone(id, requestId);
}

}  // namespace cleave::daemon
