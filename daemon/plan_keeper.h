// Re-planning: which plan the fleet should run, and when that changes. It owns the running plan
// (and the one it replaced, whose requests may still be in flight), the epoch counter, the link
// table and the hysteresis. Three things make it plan again:
//   - the fleet changed (an agent came, went, stalled or restarted): plan for whoever is online,
//     keeping the running plan when it still works and nothing is clearly better;
//   - links moved: adopt the planner's best plan only when it beats the running one with every
//     link estimate off by the margin, for the hold time (planner/plan_switch.h);
//   - an operator asked (replan, link pins, plan apply). A plan applied by hand stays until an
//     operator asks otherwise or it loses an agent.
// Pure: no sockets, no files. Every plan it installs goes to the listener given at construction,
// which distributes it; the daemon calls `tick` from its loop.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "config/fleet_config.h"
#include "daemon/agent_registry.h"
#include "daemon/fleet_plan.h"
#include "daemon/fleet_planning.h"
#include "daemon/link_table.h"
#include "daemon/plan_apply.h"
#include "planner/plan_switch.h"

namespace cleave::daemon {

class PlanKeeper {
 public:
  using Listener = std::function<void(const FleetPlan&)>;

  // `config` and `registry` outlive the keeper; the registry says who is online and with what profile.
  PlanKeeper(const config::FleetConfig& config, const AgentRegistry& registry, Listener onInstalled);

  // The fleet changed; plans again at the next tick. `holder`: an agent that went down, stalled
  // or restarted; when it may hold requests (mayHoldRequests) the next plan abandons older epochs.
  void fleetChanged(const std::string& reason, const std::string& holder = "");

  // An agent's estimate of its link to `peer` ([planner] adapt = false: ignored). False when the
  // figures are not plausible (counted by the caller as a bad message).
  bool takeEstimate(const std::string& from, const std::string& peer, LinkFigures figures);
  // Operators' pins; each adapts at once when it changes the best plan by the margin.
  Status pin(const std::string& from, const std::string& to, double bytesPerSecond, std::optional<double> rttSeconds);
  Status clearPin(const std::string& from, const std::string& to);

  // Plans again if the fleet changed, adapts if links moved or a hold ended.
  void tick();
  // How long until a hold in progress ends (the daemon's poll wakes then); nullopt: none is.
  std::optional<std::chrono::milliseconds> untilHoldEnds() const;

  // `cleavectl replan`: with a plan running and no force, adapt at once (margin applies, hold
  // does not); otherwise plan for the online fleet, with `force` even when nothing changed.
  void operatorReplan(bool force);
  // `cleavectl plan apply`: the plan the operator wrote, checked and costed under today's figures.
  Result<FleetPlan> evaluate(const AppliedPlan& applied) const;
  // Installs an operator's plan (from evaluate) as the next epoch. It is kept, whatever the links
  // do, until an operator asks otherwise (replan, a pin) or it can no longer run (an agent lost):
  // adapting it away behind the operator's back would undo what they just did.
  void installApplied(FleetPlan plan);

  const FleetPlan* current() const { return current_ ? &*current_ : nullptr; }
  uint64_t epoch() const { return epoch_; }
  // True when `agent` holds stages of the current plan, or of the one it replaced less than the
  // origins' re-run time ago: losing it loses requests.
  bool mayHoldRequests(const std::string& agent) const;
  // A stage graph of the current or the previous plan (agents fetch them by hash).
  const std::string* graph(const proto::ContentHash& hash) const;

 private:
  std::set<std::string> onlineAgents() const;
  // The topology's problem with the registered profiles and the effective link figures.
  planner::PlanningProblem problemNow() const;
  void replan(const std::string& reason, bool agentLost, bool force);
  // Adopts the planner's best plan under the current figures if it beats the running one by the
  // margin: for the hold time (links moved), or at once (`operatorAsked`, which also overrides
  // [planner] adapt = false).
  void adaptToLinks(bool operatorAsked);
  double secondsSinceStart() const;
  void install(FleetPlan plan, bool applied = false);

  const config::FleetConfig& config_;
  const AgentRegistry& registry_;
  Listener onInstalled_;

  std::optional<FleetPlan> current_, previous_;
  Clock::time_point currentSince_{};
  uint64_t epoch_ = 0;
  bool operatorsPlan_ = false;  // the current plan was applied by hand (installApplied)

  bool replanWanted_ = false;
  std::string replanReason_;
  bool replanAgentLost_ = false;

  LinkTable links_;
  LinkSnapshot planLinks_;  // effective bandwidths when the current plan was installed
  planner::PlanSwitch switch_;
  bool adaptDue_ = false;
  Clock::time_point started_ = Clock::now();
};

}  // namespace cleave::daemon
