// A topology file (configs/*.toml): the fleet's devices and links, the model to run and how to
// plan it. docs/configuration.md documents every key.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "planner/fleet.h"
#include "planner/problem.h"
#include "runtime/result.h"

namespace cleave::config {

// How an MCU is reached: a serial line on its bridge device.
struct SerialAttachment {
  std::string path;  // e.g. /dev/ttyUSB0, on the bridge
  int64_t baud = 115200;
  std::string bridge;  // device running the serial bridge
};

struct ModelSection {
  std::string bundle;  // resolved against the topology file's folder
  toml::source_region bundleWhere;  // for errors found when the bundle is loaded
  planner::Strategy strategy = planner::Strategy::Auto;
  planner::Objective objective;
  std::string objectiveName = "latency";
  planner::Constraints constraints;
  std::string source, sink;
  bool optimize = true;
};

struct PlannerSection {
  double hysteresis = 0.1;    // a new plan must stay cheaper with every link estimate this fraction off ...
  double holdSeconds = 0.25;  // ... for this long before it replaces the current one
  bool adapt = true;          // plan with measured links and re-plan as they move (false: declared figures and pins only)
};

struct Topology {
  std::string path;  // the file it came from
  std::string name;
  std::string daemonEndpoint;    // control plane: agents connect here
  std::string operatorEndpoint;  // operator API: cleavectl connects here
  std::string keysDir;           // resolved against the file's folder
  std::vector<std::string> operators;  // key names (KEYS/NAME.pub) admitted on the operator socket
  double heartbeatSeconds = 0.25;        // agents heartbeat this often ...
  double heartbeatTimeoutSeconds = 1.0;  // ... and are marked down after this long without a word
  double stallSeconds = 30.0;  // an agent whose compute thread finished nothing this long, with work, is stalled
  planner::Fleet fleet;
  std::vector<std::optional<SerialAttachment>> serial;  // per device
  std::vector<std::string> linkTraces;                  // per link; empty when none
  ModelSection model;
  PlannerSection planner;
};

// Parses and validates a topology file; on failure the error holds every problem found, one per
// line, each with file:line:column.
Result<Topology> loadTopology(const std::string& path);
Result<Topology> parseTopology(std::string_view text, const std::string& path);

}  // namespace cleave::config
