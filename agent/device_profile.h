// The device profile an agent registers with: declared in agent.toml's [device], or measured at
// start-up with the runtime's self-benchmark (the same figures `cleavectl profile` prints).
#pragma once

#include "config/agent_config.h"
#include "planner/fleet.h"
#include "runtime/device_benchmark.h"
#include "runtime/result.h"

namespace cleave::agent {

struct StartupProfile {
  planner::DeviceProfile profile;
  bool measured = false;
};

// The declared profile, or a measurement of measureSeconds with the agent's session threads.
Result<StartupProfile> startupProfile(const config::AgentConfig& config);

// A measurement in the planner's terms. Ops of no class get the conv figure, as the [[device]]
// block `cleavectl profile` writes does (its `default` is the conv rate).
planner::DeviceProfile profileFromMeasurement(const MeasuredProfile& measured, const std::string& name);

}  // namespace cleave::agent
