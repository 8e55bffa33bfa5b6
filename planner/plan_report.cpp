#include "planner/plan_report.h"

#include <fmt/format.h>

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

std::string nodeRange(const StagePlan& stage, const PlanningProblem& problem) {
  if (stage.begin == stage.end) return "(relays only)";
  const std::vector<NodeCost>& nodes = problem.model.nodes;
  const std::string& first = nodes[static_cast<size_t>(stage.begin)].name;
  if (stage.end - stage.begin == 1) return fmt::format("{} ({})", stage.begin, first);
  return fmt::format("{}-{} ({} .. {})", stage.begin, stage.end - 1, first, nodes[static_cast<size_t>(stage.end - 1)].name);
}

std::string stageJson(const StagePlan& s, const PlanningProblem& problem) {
  const std::vector<NodeCost>& nodes = problem.model.nodes;
  std::string first = s.begin < s.end ? jsonString(nodes[static_cast<size_t>(s.begin)].name) : "null";
  std::string last = s.begin < s.end ? jsonString(nodes[static_cast<size_t>(s.end - 1)].name) : "null";
  return fmt::format(
      "{{\"device\": {}, \"begin\": {}, \"end\": {}, \"first_node\": {}, \"last_node\": {}, \"macs\": {}, "
      "\"compute_s\": {:.17g}, \"compute_j\": {:.17g}, \"weight_bytes\": {}, \"peak_bytes\": {}, \"send_bytes\": {}, "
      "\"transfer_s\": {:.17g}, \"radio_j\": {:.17g}}}",
      jsonString(deviceName(problem, s.device)), s.begin, s.end, first, last, s.macs, s.computeSeconds,
      s.computeJoules, s.weightBytes, s.peakBytes, s.sendBytes, s.transferSeconds, s.radioJoules);
}

std::string planJson(const Plan& plan, const PlanningProblem& problem) {
  std::vector<std::string> stages;
  for (const StagePlan& s : plan.stages) stages.push_back(stageJson(s, problem));
  return fmt::format("{{\"strategy\": \"{}\", \"latency_s\": {:.17g}, \"energy_j\": {:.17g}, \"cost\": {:.17g}, "
                     "\"cuts\": [{}], \"stages\": [\n    {}]}}",
                     strategyName(plan.strategy), plan.latencySeconds, plan.energyJoules, plan.cost,
                     fmt::join(plan.cuts(), ", "), fmt::join(stages, ",\n    "));
}

}  // namespace

std::string planTable(const Plan& plan, const PlanningProblem& problem) {
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
