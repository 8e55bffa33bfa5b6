// An agent's configuration file (agent.toml): who the agent is in the topology, where its daemon
// listens and with which key, where its own data-plane socket binds, and optionally the device
// profile it declares instead of measuring one. The keys are those of the fleet spec (agent.toml).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/bandwidth_trace.h"
#include "planner/fleet.h"
#include "runtime/result.h"

namespace cleave::config {

// Agent names are topology device names: they name key files and travel in every data message.
constexpr size_t MAX_AGENT_NAME = 64;
constexpr int MAX_AGENT_THREADS = 256;
constexpr double MAX_MEASURE_SECONDS = 60.0;
// Local applications an agent's client socket admits; a bound, since each is a ZAP allow-list entry.
constexpr size_t MAX_CLIENT_KEYS = 256;

// [[shape]]: the agent shapes its outgoing link to `peer` in process (tests and demos), at a
// constant rate or following a trace whose time zero is `traceStartUnixSeconds` (so several
// agents replay one trace in step; nullopt: when the agent starts).
struct ShapeConfig {
  std::string peer;
  BandwidthTrace trace;
  std::string tracePath;  // empty for a constant rate
  std::optional<double> traceStartUnixSeconds;
};

struct AgentConfig {
  std::string path;                                // the file it came from
  std::string name;                                // device name in the topology; also the key file name
  std::string daemonEndpoint;                      // the daemon's control endpoint
  std::string daemonKeyFile;                       // the daemon's public key file, resolved against the file's folder
  std::string keysDir;                             // folder with NAME.pub and NAME.secret, resolved likewise
  std::string dataEndpoint = "tcp://127.0.0.1:*";  // where the data-plane ROUTER binds
  std::string advertise;                           // what peers connect to; empty: the bound endpoint
  int threads = 1;                                 // intra-op threads of each stage session
  double measureSeconds = 1.0;                     // self-benchmark budget when no [device] is declared
  // The local client socket (docs/protocol.md, "Local clients"): where its ROUTER binds (empty:
  // no client socket) and the public key files of the applications it admits, resolved against
  // the file's folder (never empty when `clientEndpoint` is set).
  std::string clientEndpoint;
  std::vector<std::string> clientKeyFiles;
  std::vector<ShapeConfig> shapes;
  // Make each stage run last at least as long as the daemon's cost model predicts on the
  // declared profile: a fast test machine then behaves like the slow boards it stands in for.
  bool paceCompute = false;
  // The declared profile ([device]); nullopt: measure at start-up. Its name is `name`.
  std::optional<planner::DeviceProfile> device;
};

// Parses and validates an agent file; on failure the error holds every problem found, one per
// line, each with file:line:column.
Result<AgentConfig> loadAgentConfig(const std::string& path);
Result<AgentConfig> parseAgentConfig(std::string_view text, const std::string& path);

}  // namespace cleave::config
