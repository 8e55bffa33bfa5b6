// The soak's fleet: `cleavectl up` starts it (keys, daemon, one agent per device on 127.0.0.1,
// links shaped as the topology says, traces included); this class then kills and restarts single
// agents the way `up` started them, keeps the state folder's pids file current so that
// `cleavectl down --state DIR` always finds every process, and takes the fleet down when it goes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "runtime/result.h"
#include "tools/cleavectl/fleet_up.h"
#include "tools/cleavectl/operator_client.h"

namespace cleave::soak {

// Where the fleet's programs are (the build tree's, set by CMake).
struct FleetPrograms {
  std::string cleavectl, agent;
};

class LocalFleet {
 public:
  // Runs `cleavectl up TOPOLOGY --state STATE --model MODEL [--pace]` to completion (it returns
  // once every agent is online under a plan, or has stopped what it started). A SIGINT from the
  // terminal reaches `up` too (same process group) and makes it give up and clean up.
  static Result<std::unique_ptr<LocalFleet>> up(const FleetPrograms& programs, const std::string& topology,
                                                const std::string& model, const std::string& state, bool pace);
  ~LocalFleet();  // down()
  LocalFleet(const LocalFleet&) = delete;
  LocalFleet& operator=(const LocalFleet&) = delete;

  // SIGTERM to every process, SIGKILL to those that outlive the grace time (cleavectl's
  // stopProcesses); then the pids file goes. Safe to call more than once.
  void down();

  // SIGKILL to one agent; it stays down until restart().
  Status kill(const std::string& device);
  // Starts the agent again with the configuration `up` wrote (same keys, same trace start, so its
  // traced links stay in step with the others) and records its new pid. An error when the old
  // process has not gone yet.
  Status restart(const std::string& device);
  bool alive(const std::string& name);

  // VmRSS of the process, from /proc/PID/status; nullopt when it is not running.
  std::optional<uint64_t> rssKiB(const std::string& name);
  // "daemon" then the devices, as `up` started them.
  std::vector<std::string> names() const;
  const cli::StatePaths& paths() const { return paths_; }
  // The operator endpoint and keys, as `cleavectl --state DIR` would use them.
  Result<cli::OperatorTarget> operatorTarget() const;
  // Appends a line to a process's log, so a reader sees where the soak acted.
  void noteInLog(const std::string& name, const std::string& line) const;

 private:
  LocalFleet(FleetPrograms programs, cli::StatePaths paths, std::vector<cli::ProcessRecord> records)
      : programs_(std::move(programs)), paths_(std::move(paths)), records_(std::move(records)) {}
  cli::ProcessRecord* find(const std::string& name);
  Status writePids() const;
  void reapChildren();

  FleetPrograms programs_;
  cli::StatePaths paths_;
  std::vector<cli::ProcessRecord> records_;
  std::set<pid_t> children_;  // restarted agents are our children: reap them
  bool down_ = false;
};

}  // namespace cleave::soak
