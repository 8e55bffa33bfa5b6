#include "daemon/plan_keeper.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "planner/plan_check.h"
#include "planner/units.h"

namespace cleave::daemon {
namespace {

// An origin runs a request again after this long without a result (OriginRequests::RERUN_AFTER,
// docs/protocol.md), so no attempt under an older plan is in flight longer than that.
constexpr double ORIGIN_RERUN_SECONDS = 10.0;

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

PlanKeeper::PlanKeeper(const config::FleetConfig& config, const AgentRegistry& registry, Listener onInstalled)
    : config_(config),
      registry_(registry),
      onInstalled_(std::move(onInstalled)),
      links_(config.problem.fleet),
      switch_(config.topology.planner.hysteresis, config.topology.planner.holdSeconds) {}

void PlanKeeper::fleetChanged(const std::string& reason, const std::string& holder) {
  replanWanted_ = true;
  replanReason_ = reason;
  replanAgentLost_ = replanAgentLost_ || (!holder.empty() && mayHoldRequests(holder));
}

bool PlanKeeper::takeEstimate(const std::string& from, const std::string& peer, LinkFigures figures) {
  if (!(figures.bytesPerSecond > 0) || !std::isfinite(figures.bytesPerSecond) || !(figures.rttSeconds >= 0) ||
      !std::isfinite(figures.rttSeconds))
    return false;
  // [planner] adapt = false: plan with the topology's figures and pins only (watchers still
  // see the estimates in the telemetry events).
  if (config_.topology.planner.adapt && links_.measure(from, peer, figures)) adaptDue_ = true;
  return true;
}

Status PlanKeeper::pin(const std::string& from, const std::string& to, double bytesPerSecond,
                       std::optional<double> rttSeconds) {
  CLEAVE_TRY(links_.pin(from, to, bytesPerSecond, rttSeconds));
  adaptToLinks(true);
  return {};
}

Status PlanKeeper::clearPin(const std::string& from, const std::string& to) {
  CLEAVE_TRY(links_.clear(from, to));
  adaptToLinks(true);
  return {};
}

void PlanKeeper::tick() {
  if (replanWanted_) {
    replanWanted_ = false;
    replan(replanReason_, replanAgentLost_, false);
    replanAgentLost_ = false;
  }
  if (adaptDue_ || (switch_.betterSince() && secondsSinceStart() >= *switch_.betterSince() +
                                                                        config_.topology.planner.holdSeconds))
    adaptToLinks(false);
}

std::optional<std::chrono::milliseconds> PlanKeeper::untilHoldEnds() const {
  std::optional<double> since = switch_.betterSince();
  if (!since) return std::nullopt;
  double left = *since + config_.topology.planner.holdSeconds - secondsSinceStart();
  return std::chrono::milliseconds(std::max<int64_t>(1, static_cast<int64_t>(std::ceil(left * 1e3))));
}

void PlanKeeper::operatorReplan(bool force) {
  if (current_ && !force) adaptToLinks(true);
  else replan("operator asked", false, force);
}

bool PlanKeeper::mayHoldRequests(const std::string& agent) const {
  if (current_ && !current_->stagesOf(agent).empty()) return true;
  // Requests sent under the plan before this one are still in flight for up to the origin's
  // re-run time (protocol.md); one held by an agent that is now lost would wait that long.
  return previous_ && secondsSince(currentSince_) < ORIGIN_RERUN_SECONDS && !previous_->stagesOf(agent).empty();
}

const std::string* PlanKeeper::graph(const proto::ContentHash& hash) const {
  for (const std::optional<FleetPlan>* plan : {&current_, &previous_})
    if (*plan)
      if (auto it = (*plan)->graphs.find(hash); it != (*plan)->graphs.end()) return &it->second;
  return nullptr;
}

std::set<std::string> PlanKeeper::onlineAgents() const {
  std::set<std::string> online;
  for (const AgentRecord& a : registry_.all())
    if (a.plannable()) online.insert(a.name);
  return online;
}

planner::PlanningProblem PlanKeeper::problemNow() const {
  planner::PlanningProblem problem = config_.problem;
  for (planner::DeviceProfile& device : problem.fleet.devices)
    if (const AgentRecord* a = registry_.find(device.name); a && a->plannable()) device = a->profile;
  links_.applyTo(problem.fleet);
  return problem;
}

double PlanKeeper::secondsSinceStart() const { return secondsSince(started_); }

void PlanKeeper::replan(const std::string& reason, bool agentLost, bool force) {
  const std::set<std::string> online = onlineAgents();
  const planner::PlanningProblem problem = problemNow();
  Result<OnlinePlan> planned = planOnline(problem, online, config_.topology.model.strategy, config_.allowed);
  if (!planned) {
    spdlog::info("no plan yet ({}): {}", reason, planned.error().message);
    if (agentLost && current_)  // the current plan lost an agent; keep it until one can be made
      spdlog::warn("plan epoch {} is broken until a new plan can be made", current_->epoch);
    return;
  }
  bool routeIntact = current_ && std::all_of(current_->stages.begin(), current_->stages.end(), [&](const FleetStage& s) {
                       return online.count(s.agent) != 0;
                     });
  if (current_ && routeIntact && !force && !agentLost) {
    if (operatorsPlan_) return;  // it still runs: the operator's choice stands
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

void PlanKeeper::adaptToLinks(bool operatorAsked) {
  adaptDue_ = false;
  if (!current_ || (!operatorAsked && (!config_.topology.planner.adapt || operatorsPlan_))) return;
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
      Result<OnlinePlan> p = reevaluateOnline(planner::withLinkBandwidthsScaled(problem, factor), online, plan, names);
      return p ? p->plan.cost : std::numeric_limits<double>::infinity();
    };
    return planner::CostBand{cost(1 - margin), cost(1 + margin)};
  };
  const planner::CostBand currentBand = band(current_->plan, current_->names), bestBand = band(best->plan, best->names);
  // An operator's pin or `replan` counts at once: the margin applies, the hold does not.
  if (operatorAsked ? !planner::PlanSwitch::clearlyBetter(currentBand, bestBand)
                    : !switch_.offer(currentBand, bestBand, secondsSinceStart()))
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
  built->replacedPredictedSeconds = now ? now->plan.latencySeconds : 0.0;
  install(std::move(*built));
}

Result<FleetPlan> PlanKeeper::evaluate(const AppliedPlan& applied) const {
  const std::string strategy = planner::strategyName(applied.strategy);
  if (std::find(config_.allowed.begin(), config_.allowed.end(), applied.strategy) == config_.allowed.end())
    return Error{fmt::format("the bundle '{}' cannot run {} plans", config_.bundle.name, strategy)};
  Result<OnlinePlan> evaluated = Error{"no plan"};
  switch (applied.strategy) {
    case planner::Strategy::Split:
      evaluated = evaluateOnline(problemNow(), onlineAgents(), applied.route, applied.cuts);
      break;
    case planner::Strategy::Nonn:
      evaluated = evaluateNonnOnline(problemNow(), onlineAgents(), applied.students, applied.fusion);
      break;
    case planner::Strategy::EarlyExit:
      evaluated = evaluateEarlyExitOnline(problemNow(), onlineAgents(), applied.blocks, applied.thresholds);
      break;
    default:
      return Error{fmt::format("strategy '{}' cannot be applied by hand yet", strategy)};
  }
  if (!evaluated) return evaluated.error();
  Status valid = planner::checkPlan(evaluated->plan, evaluated->problem);
  if (!valid) return Error{fmt::format("the plan is not valid: {}", valid.error().message)};
  return buildFleetPlan(config_.bundle, evaluated->plan, evaluated->names);
}

void PlanKeeper::installApplied(FleetPlan plan) { install(std::move(plan), true); }

void PlanKeeper::install(FleetPlan plan, bool applied) {
  operatorsPlan_ = applied;
  plan.epoch = ++epoch_;
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
  onInstalled_(*current_);
}

}  // namespace cleave::daemon
