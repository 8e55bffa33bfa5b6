// Plan distribution: every plan the keeper installs goes to every online agent as one PlanPush
// (its stages with their edges, its peers' keys and data endpoints, where requests enter); an
// agent that registers gets the running plan at once. Agents fetch the stage graphs they lack
// by content hash and acknowledge each epoch they run.
#pragma once

#include <string>

#include "daemon/agent_registry.h"
#include "daemon/control_server.h"
#include "daemon/daemon_counters.h"
#include "daemon/fleet_plan.h"
#include "daemon/plan_keeper.h"
#include "proto/control.capnp.h"

namespace cleave::daemon {

class PlanDistribution {
 public:
  PlanDistribution(const std::string& modelName, const AgentRegistry& registry, ControlServer& server,
                   DaemonCounters& counters)
      : modelName_(modelName), registry_(registry), server_(server), counters_(counters) {}

  void pushToAll(const FleetPlan& plan);
  void pushTo(const FleetPlan& plan, const AgentRecord& agent);
  // Answers with the graph's bytes from the running or the replaced plan, or found = false.
  void answerGraphRequest(const PlanKeeper& keeper, const AgentRecord& agent, wire::GraphRequest::Reader request);
  void takeAck(AgentRecord& agent, wire::PlanAck::Reader ack);

 private:
  std::string modelName_;
  const AgentRegistry& registry_;
  ControlServer& server_;
  DaemonCounters& counters_;
};

}  // namespace cleave::daemon
