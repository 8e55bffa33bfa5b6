// `cleavectl [--daemon EP --key FILE | --state DIR] status | agents | plan show | plan apply |
// replan | infer | watch | link set`: the operator commands that talk to a running daemon
// (docs/protocol.md, "Operator API"). The formatting and argument helpers are pure and exposed
// for tests.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "proto/control.capnp.h"
#include "proto/tensor_frame.h"
#include "runtime/result.h"

namespace cleave::cli {

// Adds the global connection options (--daemon, --key, --daemon-key, --state, --timeout) and the
// operator subcommands. `plan show` and `plan apply` join the existing `plan` command, so call it
// after addPlanCommand.
void addOperatorCommands(CLI::App& app, int& exitCode);

// --route a,b,c: device names, source first; each made of letters, digits, '_' and '-'.
Result<std::vector<std::string>> parseRoute(const std::string& text);
// --cuts 2,4: non-negative, non-decreasing node positions (an empty text is no cuts).
Result<std::vector<int64_t>> parseCuts(const std::string& text);
// The PlanApply TOML of a split plan (docs: fleet spec, "Operator side"); the cut count must be
// the route's length - 1.
Result<std::string> planApplyToml(const std::vector<std::string>& route, const std::vector<int64_t>& cuts);

// Link figures from `link set` / `link shape`: --bandwidth (and --rtt), or --clear
// (bytesPerSecond 0). `command` prefixes the errors. rttSeconds < 0: --rtt not given.
struct LinkShapeArgs {
  double bytesPerSecond = 0;
  double rttSeconds = -1;
};
Result<LinkShapeArgs> parseLinkShape(const std::string& command, const std::string& bandwidth, const std::string& rtt,
                                     bool clear, bool haveTrace = false);

// Rows of cells as left-aligned columns two spaces apart, the first row a header.
std::string formatTable(const std::vector<std::vector<std::string>>& rows);
// Nearest-rank percentile (p in (0, 100]) of a non-empty list.
double percentile(std::vector<double> values, double p);

// Replies as text. They read Cap'n Proto readers: call them inside proto::decodeGuard.
std::string strategyText(wire::Strategy strategy);
std::string formatStatus(wire::FleetStatus::Reader status);
std::string formatAgents(capnp::List<wire::AgentInfo>::Reader agents);
std::string formatPlan(wire::PlanSummary::Reader plan);
// One line, without a timestamp.
std::string formatWatchEvent(wire::WatchEvent::Reader event);
// "output 0 'logits': float32[1,10], argmax 9 (3.21)"; argmax per row for 1-D and 2-D floats.
std::string outputSummary(const proto::WireTensor& output, size_t index);

}  // namespace cleave::cli
