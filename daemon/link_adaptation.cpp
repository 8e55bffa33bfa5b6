// Re-planning as links move. Agents report their outgoing links' estimates in telemetry; the
// daemon keeps them in the link table (where operators' pins win), and whenever they change it
// asks the planner for the best plan under the new figures and re-costs the current plan under
// the same figures. The planner's plan replaces the current one only when it stays cheaper with
// every link's estimate off by the topology's hysteresis margin, for its hold time
// (planner/plan_switch.h), so one noisy sample cannot flip plans; the new epoch keeps requests
// already running on the old one.
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "daemon/daemon.h"
#include "daemon/fleet_planning.h"
#include "planner/plan_switch.h"
#include "planner/units.h"
#include "proto/message_codec.h"

namespace cleave::daemon {
namespace {

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The (sender, receiver) device pairs a plan moves tensors between.
std::set<std::pair<std::string, std::string>> linksUsed(const planner::Plan& plan, const std::vector<std::string>& names) {
  std::set<std::pair<std::string, std::string>> used;
  auto add = [&](size_t from, size_t to) {
    const std::string& a = names.at(plan.stages.at(from).device);
    const std::string& b = names.at(plan.stages.at(to).device);
    if (a != b) used.insert({a, b});
  };
  if (plan.isPath())
    for (size_t i = 0; i + 1 < plan.stages.size(); ++i) add(i, i + 1);
  for (const planner::PlanEdge& e : plan.edges) add(e.from, e.to);
  return used;
}

}  // namespace

void Daemon::takeLinkEstimates(const AgentRecord& agent, capnp::List<wire::LinkEstimate>::Reader estimates) {
  // [planner] adapt = false: plan with the topology's figures and pins only (watchers still
  // see the estimates in the telemetry events).
  if (!config_.topology.planner.adapt) return;
  for (auto estimate : estimates) {
    Result<std::string> peer = proto::readText(estimate.getPeer(), 64, "telemetry link peer");
    const double bandwidth = estimate.getBytesPerSecond(), rtt = estimate.getRttSeconds();
    if (!peer || !(bandwidth > 0) || !std::isfinite(bandwidth) || !(rtt >= 0) || !std::isfinite(rtt)) {
      ++counters_.badMessages;
      continue;
    }
    if (links_.measure(agent.name, *peer, {bandwidth, rtt})) adaptDue_ = true;
  }
}

void Daemon::adaptToLinks(bool operatorAsked) {
  adaptDue_ = false;
  if (!current_ || (!operatorAsked && !config_.topology.planner.adapt)) return;
  const std::set<std::string> online = onlineAgents();
  const planner::PlanningProblem problem = problemNow();
  Result<OnlinePlan> best = planOnline(problem, online, config_.topology.model.strategy, config_.allowed);
  if (!best) return;  // agents coming and going re-plan on their own path
  if (assignmentKey(best->plan, best->names) == assignmentKey(current_->plan, current_->names)) {
    switch_.reset();  // the current plan is still the best
    return;
  }
  Result<OnlinePlan> now = reevaluateOnline(problem, online, current_->plan, current_->names);
  // Both plans re-costed with every link slower, and faster, by the margin: a current plan that
  // no longer fits (memory) or lost a link costs infinity and is replaced at once.
  const double margin = switch_.margin();
  auto band = [&](const planner::Plan& plan, const std::vector<std::string>& names) {
    auto cost = [&](double factor) {
      Result<OnlinePlan> p =
          reevaluateOnline(planner::withLinkBandwidthsScaled(problem, factor), online, plan, names);
      return p ? p->plan.cost : std::numeric_limits<double>::infinity();
    };
    return planner::CostBand{cost(1 - margin), cost(1 + margin)};
  };
  const planner::CostBand currentBand = band(current_->plan, current_->names), bestBand = band(best->plan, best->names);
  // An operator's pin or `replan` counts at once: the margin applies, the hold does not.
  if (operatorAsked ? !planner::PlanSwitch::clearlyBetter(currentBand, bestBand)
                    : !switch_.offer(currentBand, bestBand, secondsSince(started_)))
    return;
  Result<FleetPlan> built = buildFleetPlan(config_.bundle, best->plan, best->names);
  if (!built) {
    spdlog::error("cannot build the plan's stages: {}", built.error().message);
    return;
  }
  std::set<std::pair<std::string, std::string>> used = linksUsed(current_->plan, current_->names);
  used.merge(linksUsed(best->plan, best->names));
  std::string moved = links_.biggestMove(planLinks_, used).value_or("link estimates moved");
  built->reason = fmt::format("{}{}; predicted {} -> {}", operatorAsked ? "operator asked; " : "", moved,
                              now ? planner::formatSeconds(now->plan.latencySeconds) : std::string("(cannot run)"),
                              planner::formatSeconds(best->plan.latencySeconds));
  install(std::move(*built), now ? now->plan.latencySeconds : 0.0);
}

void Daemon::handleLinkSet(const std::string& id, uint64_t requestId, wire::LinkSet::Reader linkSet) {
  Result<std::string> from = proto::readText(linkSet.getFrom(), 64, "linkSet.from");
  Result<std::string> to = proto::readText(linkSet.getTo(), 64, "linkSet.to");
  if (!from || !to) return replyError(id, requestId, "link set: bad device names");
  AgentRecord* agent = registry_.find(*from);
  if (!agent || !registry_.find(*to))
    return replyError(id, requestId, fmt::format("link set: no device '{}' or '{}'", *from, *to));
  switch (linkSet.which()) {
    case wire::LinkSet::PIN: {
      const double rtt = linkSet.getPin().getRttSeconds();
      Status pinned = links_.pin(*from, *to, linkSet.getPin().getBytesPerSecond(),
                                 rtt < 0 ? std::nullopt : std::optional<double>(rtt));
      if (!pinned) return replyError(id, requestId, "link set: " + pinned.error().message);
      spdlog::info("operator pinned link {} -> {} at {}", *from, *to,
                   planner::formatBandwidth(linkSet.getPin().getBytesPerSecond()));
      break;
    }
    case wire::LinkSet::CLEAR: {
      if (Status cleared = links_.clear(*from, *to); !cleared)
        return replyError(id, requestId, "link set: " + cleared.error().message);
      spdlog::info("operator released the pin on link {} -> {}", *from, *to);
      break;
    }
    case wire::LinkSet::SHAPE: {
      if (!agent->online) return replyError(id, requestId, fmt::format("link shape: agent '{}' is offline", *from));
      capnp::MallocMessageBuilder message;
      auto shape = message.initRoot<wire::ControlMessage>().initLinkShape();
      shape.setPeer(*to);
      shape.setBytesPerSecond(linkSet.getShape().getBytesPerSecond());
      shape.setRttSeconds(linkSet.getShape().getRttSeconds());
      shape.setTrace(linkSet.getShape().getTrace());
      send(control_, agent->routingId, message);
      break;
    }
    default:
      return replyError(id, requestId, "link set: unknown action");
  }
  if (!linkSet.isShape()) adaptToLinks(true);
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(requestId);
  r.setFinal(true);
  r.setDone();
  send(operator_, id, reply);
}

}  // namespace cleave::daemon
