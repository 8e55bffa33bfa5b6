// The agents a topology lists, and what the daemon knows of each: its key, whether it is
// online, the profile it registered, where its data plane listens, when it was last heard.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "planner/fleet.h"
#include "proto/key_files.h"

namespace cleave::daemon {

using Clock = std::chrono::steady_clock;

struct AgentRecord {
  std::string name;
  std::string publicKeyZ85;  // from KEYS/<name>.pub; empty when the file is missing (never admitted)
  std::string fingerprint;
  planner::DeviceProfile profile;  // the topology's until the agent registers its own
  bool online = false;
  bool measured = false;
  std::string routingId;  // the control ROUTER's id of its connection
  std::string dataEndpoint;
  Clock::time_point lastSeen{};
  uint64_t ackedEpoch = 0;
  uint32_t queueDepth = 0;
  std::string stalled;  // from its heartbeats: what stopped moving on its compute thread; empty when it moves

  // Online and moving: the planner may give it stages.
  bool plannable() const { return online && stalled.empty(); }
};

class AgentRegistry {
 public:
  void add(AgentRecord record) { agents_.push_back(std::move(record)); }
  AgentRecord* find(const std::string& name);
  const AgentRecord* find(const std::string& name) const;
  AgentRecord* findByRoutingId(const std::string& routingId);
  std::vector<AgentRecord>& all() { return agents_; }
  const std::vector<AgentRecord>& all() const { return agents_; }
  size_t onlineCount() const;

 private:
  std::vector<AgentRecord> agents_;
};

}  // namespace cleave::daemon
