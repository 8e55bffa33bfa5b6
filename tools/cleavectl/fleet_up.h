// `cleavectl up CONFIG` and `cleavectl down`: a whole fleet as local processes on 127.0.0.1, for
// demos and tests. `up` makes a state folder (keys, agent configs, logs, pids), starts `cleaved`
// and one `cleave-agent` per device in their own sessions, and waits until every agent is online
// under a plan; `down` stops what the pids file lists.
#pragma once

#include <sys/types.h>
#include <toml++/toml.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/topology.h"
#include "runtime/result.h"

namespace cleave::cli {

// Adds `up` and `down` to the app; each runs when parsed and sets exitCode.
void addFleetCommands(CLI::App& app, int& exitCode);

// One process `up` started. The start time (clock ticks after boot, /proc/PID/stat field 22)
// tells a live process from an unrelated one that got the pid after ours exited.
struct ProcessRecord {
  std::string name;  // "daemon" or the device name
  pid_t pid = 0;
  uint64_t startTicks = 0;
  bool operator==(const ProcessRecord&) const = default;
};

// The pids file: a comment line, then "NAME PID START" per process.
std::string formatPidsFile(const std::vector<ProcessRecord>& records);
Result<std::vector<ProcessRecord>> parsePidsFile(std::string_view text, const std::string& nameForErrors);

// /proc/PID/stat's start time; nullopt when there is no such process.
std::optional<uint64_t> processStartTicks(pid_t pid);
// The recorded process still runs: it exists, is not a zombie, and started when recorded.
bool processAlive(const ProcessRecord& record);

// What stopProcesses did to one process.
enum class StopOutcome { NotRunning, Stopped, Killed, Survived };
// SIGTERM to every live record, then polls (every 20 ms) until all are gone or `graceSeconds`
// passed, then SIGKILL to the rest and another bounded wait. `ownChildren`: the processes are
// ours, so reap them with waitpid (a zombie counts as gone either way).
std::vector<StopOutcome> stopProcesses(const std::vector<ProcessRecord>& records, double graceSeconds,
                                       bool ownChildren);

// Starts `argv` in its own session (setsid: a Ctrl-C on the caller's terminal does not reach it),
// stdin from /dev/null, stdout and stderr appended to `logPath`.
Result<pid_t> spawnDetached(const std::vector<std::string>& argv, const std::string& logPath);

// The last `lines` lines of a file (empty when it cannot be read).
std::string tailOfFile(const std::string& path, size_t lines);

// The device-profile keys (config/device_table.h's DEVICE_PROFILE_KEYS) of each [[device]] of a
// topology file, copied verbatim so the agents declare exactly the topology's figures.
Result<std::vector<std::pair<std::string, toml::table>>> deviceProfileTables(const std::string& topologyPath);

// An agent.toml (fleet spec, "agent.toml") for a local fleet: the daemon's control endpoint,
// keys in ../keys relative to the file, data on tcp://127.0.0.1:*, and [device] = `profile`.
// `paceCompute`: stage runs last as long as the declared profile predicts (`up --pace`).
std::string agentConfigToml(const std::string& name, const std::string& controlEndpoint, const toml::table& profile,
                            bool paceCompute = false);

// [[shape]] tables for agent `name`: each topology link it sends on, shaped at the link's
// bandwidth and RTT in that direction, or by its trace from `traceStartUnixSeconds`.
std::string shapeTables(const config::Topology& topology, const std::string& name, double traceStartUnixSeconds);

// Where the daemon and agent binaries are: `binDir` when given, else next to this executable
// (<dir of /proc/self/exe>/../daemon/cleaved and ../agent/cleave-agent, the build tree's layout).
struct FleetBinaries {
  std::string daemon;
  std::string agent;
};
Result<FleetBinaries> findFleetBinaries(const std::string& binDir);

}  // namespace cleave::cli
