#include "planner/plan_report.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "planner/stage_graph.h"
#include "planner/units.h"

namespace cleave::planner {
namespace {

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
      continue;
    }
    out += c;
  }
  return out + "\"";
}

const std::string& deviceName(const PlanningProblem& problem, size_t device) {
  return problem.fleet.devices[device].name;
}

// "student 2", "fusion", "relay"; the split graph has no label.
std::string graphLabel(const StagePlan& stage) {
  switch (stage.graph) {
    case StageGraph::Model: return "";
    case StageGraph::Student: return fmt::format("student {}", stage.graphIndex);
    default: return stageGraphName(stage.graph);
  }
}

std::string nodeRange(const StagePlan& stage, const PlanningProblem& problem) {
  if (stage.graph != StageGraph::Model) {
    const ModelCosts* model = stageModel(stage, problem);
    return model && stage.begin < stage.end ? fmt::format("{} ({} nodes)", graphLabel(stage), stage.end - stage.begin)
                                            : graphLabel(stage);
  }
  if (stage.begin == stage.end) return "(relays only)";
  const std::vector<NodeCost>& nodes = problem.model.nodes;
  const std::string& first = nodes[static_cast<size_t>(stage.begin)].name;
  if (stage.end - stage.begin == 1) return fmt::format("{} ({})", stage.begin, first);
  return fmt::format("{}-{} ({} .. {})", stage.begin, stage.end - 1, first, nodes[static_cast<size_t>(stage.end - 1)].name);
}

std::string stageJson(const StagePlan& s, const PlanningProblem& problem) {
  const ModelCosts* model = stageModel(s, problem);
  std::string first = model && s.begin < s.end ? jsonString(model->nodes[static_cast<size_t>(s.begin)].name) : "null";
  std::string last = model && s.begin < s.end ? jsonString(model->nodes[static_cast<size_t>(s.end - 1)].name) : "null";
  return fmt::format(
      "{{\"device\": {}, \"graph\": \"{}\", \"graph_index\": {}, \"begin\": {}, \"end\": {}, \"first_node\": {}, "
      "\"last_node\": {}, \"macs\": {}, "
      "\"compute_s\": {:.17g}, \"compute_j\": {:.17g}, \"weight_bytes\": {}, \"peak_bytes\": {}, \"send_bytes\": {}, "
      "\"transfer_s\": {:.17g}, \"radio_j\": {:.17g}}}",
      jsonString(deviceName(problem, s.device)), stageGraphName(s.graph), s.graphIndex, s.begin, s.end, first, last,
      s.macs, s.computeSeconds,
      s.computeJoules, s.weightBytes, s.peakBytes, s.sendBytes, s.transferSeconds, s.radioJoules);
}

const char* edgeKindName(EdgeKind kind) {
  switch (kind) {
    case EdgeKind::Always: return "always";
    case EdgeKind::UnlessExited: return "unless_exited";
    case EdgeKind::ChannelPrefix: return "channel_prefix";
  }
  return "?";
}

std::string edgeJson(const PlanEdge& e) {
  std::vector<std::string> tensors;
  for (const std::string& t : e.tensors) tensors.push_back(jsonString(t));
  return fmt::format("{{\"from\": {}, \"to\": {}, \"kind\": \"{}\", \"tensors\": [{}], \"bytes\": {}, "
                     "\"transfer_s\": {:.17g}, \"radio_j\": {:.17g}}}",
                     e.from, e.to, edgeKindName(e.kind), fmt::join(tensors, ", "), e.bytes, e.transferSeconds,
                     e.radioJoules);
}

std::string planJson(const Plan& plan, const PlanningProblem& problem) {
  std::vector<std::string> stages, edges;
  for (const StagePlan& s : plan.stages) stages.push_back(stageJson(s, problem));
  for (const PlanEdge& e : plan.edges) edges.push_back(edgeJson(e));
  std::string graphPart;
  if (!plan.isPath())
    graphPart = fmt::format(", \"missing_students\": [{}], \"accuracy\": {:.17g}, \"exit_thresholds\": [{}], "
                            "\"exit_fractions\": [{}], \"edges\": [\n    {}]",
                            fmt::join(plan.missingStudents, ", "), plan.accuracy, fmt::join(plan.exitThresholds, ", "),
                            fmt::join(plan.exitFractions, ", "), fmt::join(edges, ",\n    "));
  return fmt::format("{{\"strategy\": \"{}\", \"latency_s\": {:.17g}, \"energy_j\": {:.17g}, \"cost\": {:.17g}, "
                     "\"cuts\": [{}], \"stages\": [\n    {}]{}}}",
                     strategyName(plan.strategy), plan.latencySeconds, plan.energyJoules, plan.cost,
                     fmt::join(plan.isPath() ? plan.cuts() : std::vector<int64_t>{}, ", "), fmt::join(stages, ",\n    "),
                     graphPart);
}

// A plan that is a graph: its stages, then its edges.
std::string graphTable(const Plan& plan, const PlanningProblem& problem) {
  std::string out = fmt::format("  {:>5} {:<12} {:<28} {:>9} {:>10}\n", "stage", "device", "runs", "MACs", "compute");
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const StagePlan& s = plan.stages[i];
    const std::string runs = s.graph == StageGraph::Block ? fmt::format("block {}", s.graphIndex) : nodeRange(s, problem);
    out += fmt::format("  {:>5} {:<12} {:<28} {:>9} {:>10}\n", i, deviceName(problem, s.device), runs,
                       formatRate(static_cast<double>(s.macs)), formatSeconds(s.computeSeconds));
  }
  out += fmt::format("  {:>5} {:<34} {:>11} {:>10}\n", "edge", "carries", "bytes", "transfer");
  for (const PlanEdge& e : plan.edges)
    out += fmt::format("  {:>5} {:<34} {:>11} {:>10}\n", fmt::format("{}->{}", e.from, e.to),
                       fmt::format("{}", fmt::join(e.tensors, ", ")), formatBytes(e.bytes), formatSeconds(e.transferSeconds));
  for (uint32_t k : plan.missingStudents) out += fmt::format("  student {} runs nowhere: the fusion zeroes its features\n", k);
  for (size_t k = 0; k < plan.exitFractions.size(); ++k)
    out += k < plan.exitThresholds.size()
               ? fmt::format("  block {} exits at confidence {}: {:.1f}% of requests finish there\n", k,
                             plan.exitThresholds[k], 100 * plan.exitFractions[k])
               : fmt::format("  block {} answers the rest: {:.1f}%\n", k, 100 * plan.exitFractions[k]);
  const bool mean = plan.strategy == Strategy::EarlyExit;
  out += fmt::format("  predicted latency {} ({}), energy {}{}", formatSeconds(plan.latencySeconds),
                     mean ? "mean over where requests finish" : "critical path", formatJoules(plan.energyJoules),
                     mean ? " (mean)" : "");
  if (plan.accuracy > 0) out += fmt::format(", expected accuracy {:.4f}", plan.accuracy);
  return out + "\n";
}

}  // namespace

std::string planTable(const Plan& plan, const PlanningProblem& problem) {
  if (!plan.isPath()) return graphTable(plan, problem);
  std::string out = fmt::format("  {:<12} {:<44} {:>9} {:>10} {:>11} {:>10}\n", "device", "nodes", "MACs", "compute",
                                "sends", "transfer");
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const StagePlan& s = plan.stages[i];
    bool last = i + 1 == plan.stages.size();
    out += fmt::format("  {:<12} {:<44} {:>9} {:>10} {:>11} {:>10}\n", deviceName(problem, s.device),
                       nodeRange(s, problem), formatRate(static_cast<double>(s.macs)), formatSeconds(s.computeSeconds),
                       last ? "-" : formatBytes(s.sendBytes), last ? "-" : formatSeconds(s.transferSeconds));
  }
  out += fmt::format("  predicted latency {}, energy {}\n", formatSeconds(plan.latencySeconds),
                     formatJoules(plan.energyJoules));
  return out;
}

std::string planSummary(const Plan& plan, const PlanningProblem& problem) {
  if (!plan.isPath()) {
    // Stages grouped by their distance from stage 0: "pi1 relay => pi2 student 0 | pi3 student 1 => pi8 fusion".
    std::vector<size_t> depth(plan.stages.size(), 0);
    for (const PlanEdge& e : plan.edges) depth[e.to] = std::max(depth[e.to], depth[e.from] + 1);
    std::vector<std::vector<std::string>> levels(*std::max_element(depth.begin(), depth.end()) + 1);
    for (size_t i = 0; i < plan.stages.size(); ++i)
      levels[depth[i]].push_back(fmt::format("{} {}", deviceName(problem, plan.stages[i].device), graphLabel(plan.stages[i])));
    std::vector<std::string> parts;
    for (const std::vector<std::string>& level : levels) parts.push_back(fmt::format("{}", fmt::join(level, " | ")));
    return fmt::format("{}  latency {}, energy {}, cost {:.6g}", fmt::join(parts, " => "),
                       formatSeconds(plan.latencySeconds), formatJoules(plan.energyJoules), plan.cost);
  }
  std::vector<std::string> parts;
  for (const StagePlan& s : plan.stages)
    parts.push_back(s.begin == s.end ? fmt::format("{} (relay)", deviceName(problem, s.device))
                                     : fmt::format("{} [{}, {})", deviceName(problem, s.device), s.begin, s.end));
  return fmt::format("{}  latency {}, energy {}, cost {:.6g}", fmt::join(parts, " -> "), formatSeconds(plan.latencySeconds),
                     formatJoules(plan.energyJoules), plan.cost);
}

std::string planSetText(const PlanSet& set, const PlanningProblem& problem) {
  std::string out = fmt::format("strategy {}, objective {}\n", strategyName(set.strategy), problem.objective.describe());
  if (set.plans.empty()) return out + "no plan\n";
  out += planTable(set.plans.front(), problem);
  if (set.plans.size() > 1) {
    out += "runner-ups:\n";
    for (size_t i = 1; i < set.plans.size(); ++i)
      out += fmt::format("  {}. {}\n", i + 1, planSummary(set.plans[i], problem));
  }
  for (const std::string& note : set.notes) out += fmt::format("note: {}\n", note);
  return out;
}

std::string planSetJson(const PlanSet& set, const PlanningProblem& problem) {
  std::vector<std::string> plans, notes;
  for (const Plan& p : set.plans) plans.push_back(planJson(p, problem));
  for (const std::string& n : set.notes) notes.push_back(jsonString(n));
  return fmt::format("{{\"model\": {}, \"strategy\": \"{}\", \"objective\": {}, \"notes\": [{}],\n \"plans\": [\n  {}]}}\n",
                     jsonString(problem.model.name), strategyName(set.strategy),
                     jsonString(problem.objective.describe()), fmt::join(notes, ", "), fmt::join(plans, ",\n  "));
}

std::string curveText(const BandwidthCurve& curve, const PlanningProblem& problem) {
  std::string out = fmt::format("best plan by bandwidth {} -> {} ({} segments)\n", deviceName(problem, curve.from),
                                deviceName(problem, curve.to), curve.segments.size());
  for (const CurveSegment& s : curve.segments)
    out += fmt::format("  {:>11} .. {:<11} {}\n", formatBandwidth(s.lowBytesPerSecond),
                       formatBandwidth(s.highBytesPerSecond), planSummary(s.plan, problem));
  return out;
}

std::string curveJson(const BandwidthCurve& curve, const PlanningProblem& problem) {
  std::vector<std::string> segments;
  for (const CurveSegment& s : curve.segments)
    segments.push_back(fmt::format("{{\"low_bps\": {:.17g}, \"high_bps\": {:.17g}, \"plan\": {}}}",
                                   s.lowBytesPerSecond * 8, s.highBytesPerSecond * 8, planJson(s.plan, problem)));
  return fmt::format("{{\"from\": {}, \"to\": {}, \"segments\": [\n  {}]}}\n", jsonString(deviceName(problem, curve.from)),
                     jsonString(deviceName(problem, curve.to)), fmt::join(segments, ",\n  "));
}

}  // namespace cleave::planner
