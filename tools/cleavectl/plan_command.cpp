#include "tools/cleavectl/plan_command.h"

#include <algorithm>

#include <fmt/format.h>

#include "config/fleet_config.h"
#include "planner/bandwidth_curve.h"
#include "planner/plan_report.h"
#include "planner/planner.h"
#include "planner/units.h"

namespace cleave::cli {
namespace {

using planner::Fleet;

int fail(const std::string& message) {
  fmt::print(stderr, "cleavectl: error: {}\n", message);
  return 1;
}

struct PlanOptions {
  std::string config;
  std::vector<std::string> bandwidths;  // "A-B=VALUE"
  std::string objective;
  std::string strategy;
  std::string model;
  std::string sweep;  // "A-B"
  std::string sweepFrom = "10kbps", sweepTo = "1Gbps";
  bool json = false;
};

// "A-B": device names may contain '-', so try every '-' until both sides name devices.
Result<std::pair<size_t, size_t>> parseLinkName(const std::string& text, const Fleet& fleet) {
  for (size_t dash = text.find('-'); dash != std::string::npos; dash = text.find('-', dash + 1)) {
    std::optional<size_t> a = fleet.deviceIndex(text.substr(0, dash)), b = fleet.deviceIndex(text.substr(dash + 1));
    if (!a || !b) continue;
    if (!fleet.linkBetween(*a, *b)) return Error{fmt::format("no link joins '{}' and '{}'", fleet.devices[*a].name,
                                                            fleet.devices[*b].name)};
    return std::pair{*a, *b};
  }
  return Error{fmt::format("'{}' does not name a link as FROM-TO between two declared devices", text)};
}

Status applyOverrides(const PlanOptions& options, config::FleetConfig& config) {
  planner::PlanningProblem& problem = config.problem;
  for (const std::string& item : options.bandwidths) {
    size_t eq = item.find('=');
    if (eq == std::string::npos) return Error{fmt::format("--bandwidth '{}' must be FROM-TO=VALUE, e.g. camera-pi1=2Mbps", item)};
    Result<std::pair<size_t, size_t>> link = parseLinkName(item.substr(0, eq), problem.fleet);
    if (!link) return Error{fmt::format("--bandwidth: {}", link.error().message)};
    Result<double> value = planner::parseBandwidth(item.substr(eq + 1));
    if (!value) return Error{fmt::format("--bandwidth: {}", value.error().message)};
    if (*value <= 0) return Error{"--bandwidth: must be more than 0"};
    problem.fleet.setBytesPerSecond(link->first, link->second, *value);
  }
  if (options.objective == "latency") problem.objective = planner::Objective::latency();
  else if (options.objective == "energy") problem.objective = planner::Objective::energy();
  else if (options.objective == "weighted" && config.topology.model.objectiveName != "weighted")
    return Error{"--objective weighted needs [model] weights in the topology file"};
  else if (!options.objective.empty() && options.objective != "weighted")
    return Error{fmt::format("--objective '{}': expected latency, energy or weighted", options.objective)};
  return {};
}

std::string graphFigures(const CostReport& report) {
  return fmt::format("{} nodes, {} MACs, {} weights", report.nodes.size(),
                     planner::formatRate(static_cast<double>(report.totalMacs)),
                     planner::formatBytes(report.totalWeightBytes));
}

// One line on what the bundle holds: its split graph, or its students and fusion (and the
// split graph it may also be planned with).
std::string describeBundle(const config::ModelBundle& bundle) {
  if (!bundle.nonn) return fmt::format("{} ({})", bundle.name, graphFigures(bundle.report));
  const config::NonnGraphs& nonn = *bundle.nonn;
  std::string text = fmt::format("{}: {} students ({} each at most), fusion ({})", bundle.name, nonn.students.size(),
                                 graphFigures(std::max_element(nonn.students.begin(), nonn.students.end(),
                                                               [](const auto& a, const auto& b) {
                                                                 return a.report.totalMacs < b.report.totalMacs;
                                                               })->report),
                                 graphFigures(nonn.fusion.report));
  if (!bundle.modelFile.empty()) text += fmt::format("; split graph {}", graphFigures(bundle.report));
  return text;
}

int plan(const PlanOptions& options) {
  Result<config::FleetConfig> config = config::loadFleetConfig(options.config, options.model);
  if (!config) {
    // Topology errors are already "file:line:column: error: ..." lines, one per mistake.
    const std::string& message = config.error().message;
    if (message.find(": error: ") == std::string::npos) return fail(message);
    fmt::print(stderr, "{}\n", message);
    return 1;
  }
  Status overridden = applyOverrides(options, *config);
  if (!overridden) return fail(overridden.error().message);
  const planner::PlanningProblem& problem = config->problem;

  planner::Strategy strategy = config->topology.model.strategy;
  if (!options.strategy.empty()) {
    std::optional<planner::Strategy> s = planner::strategyFromName(options.strategy);
    if (!s) return fail(fmt::format("--strategy '{}': expected split, clio, nonn, early_exit or auto", options.strategy));
    strategy = *s;
  }

  if (!options.sweep.empty()) {
    Result<std::pair<size_t, size_t>> link = parseLinkName(options.sweep, problem.fleet);
    if (!link) return fail(fmt::format("--sweep: {}", link.error().message));
    Result<double> low = planner::parseBandwidth(options.sweepFrom), high = planner::parseBandwidth(options.sweepTo);
    if (!low) return fail(fmt::format("--from: {}", low.error().message));
    if (!high) return fail(fmt::format("--to: {}", high.error().message));
    Result<planner::BandwidthCurve> curve =
        planner::sweepLinkAnyStrategy(problem, link->first, link->second, *low, *high, strategy, config->allowed);
    if (!curve) return fail(curve.error().message);
    fmt::print("{}", options.json ? planner::curveJson(*curve, problem) : planner::curveText(*curve, problem));
    return 0;
  }

  Result<planner::PlanSet> set = planner::makePlan(problem, strategy, config->allowed);
  if (!set) return fail(fmt::format("{}: {}", options.config, set.error().message));
  if (options.json) {
    fmt::print("{}", planner::planSetJson(*set, problem));
    return 0;
  }
  fmt::print("fleet {}: {} devices, {} links; model {}\n", config->topology.name, problem.fleet.devices.size(),
             problem.fleet.links.size(), describeBundle(config->bundle));
  fmt::print("{}", planner::planSetText(*set, problem));
  return 0;
}

}  // namespace

void addPlanCommand(CLI::App& app, int& exitCode) {
  auto options = std::make_shared<PlanOptions>();
  CLI::App* cmd = app.add_subcommand("plan", "Plan a topology file: the best plan, its runner-ups, or a bandwidth sweep");
  cmd->add_option("config", options->config, "Topology file (TOML)")->required();
  cmd->add_option("--bandwidth", options->bandwidths, "Set a link's bandwidth, FROM-TO=VALUE (e.g. camera-pi1=2Mbps)");
  cmd->add_option("--objective", options->objective, "latency, energy or weighted (overrides [model] objective)");
  cmd->add_option("--strategy", options->strategy, "split, clio, nonn, early_exit or auto (overrides [model] strategy)");
  cmd->add_option("--model", options->model, "Plan this bundle or .onnx instead of [model] bundle");
  cmd->add_option("--sweep", options->sweep, "Print the best plan across a bandwidth range of link FROM-TO");
  cmd->add_option("--from", options->sweepFrom, "Lowest bandwidth of --sweep")->capture_default_str();
  cmd->add_option("--to", options->sweepTo, "Highest bandwidth of --sweep")->capture_default_str();
  cmd->add_flag("--json", options->json, "Print JSON");
  cmd->callback([options, &exitCode] { exitCode = plan(*options); });
}

}  // namespace cleave::cli
