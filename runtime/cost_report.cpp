#include "runtime/cost_report.h"

#include <set>

#include <fmt/format.h>

#include "runtime/analysis.h"
#include "runtime/fast_kernels.h"
#include "runtime/layout_plan.h"
#include "runtime/liveness.h"

namespace cleave {

Result<CostReport> buildCostReport(const Graph& graph, bool fastKernels) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  // The kernels a session would run, so their memory is what the planner charges a device.
  if (fastKernels) selectFastKernels(graph, *analysis);
  LayoutPlan layouts = planLayouts(graph, *analysis);
  Liveness live = computeLiveness(graph, *analysis);

  CostReport report;
  report.modelName = graph.name;
  std::set<std::string> weightsSeen;
  for (size_t n : live.runnable) {
    const Node& node = graph.nodes[n];
    const PreparedNode& prepared = analysis->nodes[n];
    NodeCost cost{node.name, node.opType, prepared.opClass, prepared.macs, 0, 0, 0, 0, 0, ""};
    const Kernel* kernel = layouts.runsNhwc(n) && prepared.nhwcKernel ? prepared.nhwcKernel.get() : prepared.kernel.get();
    if (kernel) {
      cost.kernelBytes = kernel->heldBytes();
      cost.workspaceBytes = kernel->workspaceBytes(1);
    }
    for (const std::string& in : node.inputs) {
      if (in.empty() || !analysis->isConstant(in)) continue;
      int64_t bytes = analysis->typeOf(in).bytes();
      cost.weightBytes += bytes;
      if (weightsSeen.insert(in).second) report.totalWeightBytes += bytes;
    }
    for (size_t o = 0; o < node.outputs.size(); ++o)
      if (!node.outputs[o].empty()) cost.outputBytes += prepared.outputTypes[o].bytes();
    if (!prepared.outputTypes.empty()) cost.outputShape = shapeString(prepared.outputTypes[0].shape);
    for (const TensorType& out : prepared.outputTypes) cost.int8 = cost.int8 || out.dtype == DType::I8;
    for (const std::string& in : node.inputs)
      if (!in.empty() && !analysis->isConstant(in)) cost.int8 = cost.int8 || analysis->typeOf(in).dtype == DType::I8;
    report.totalMacs += cost.macs;
    report.nodes.push_back(std::move(cost));
  }

  std::vector<int64_t> liveBytes = live.liveBytesPerPosition();
  size_t count = liveBytes.size();
  for (size_t i = 0; i < count; ++i) report.nodes[i].liveBytes = liveBytes[i];
  std::vector<int64_t> prefixPeak(count + 1, 0), suffixPeak(count + 1, 0);
  for (size_t i = 0; i < count; ++i) prefixPeak[i + 1] = std::max(prefixPeak[i], liveBytes[i]);
  for (size_t i = count; i-- > 0;) suffixPeak[i] = std::max(suffixPeak[i + 1], liveBytes[i]);
  report.peakActivationBytes = prefixPeak[count];
  for (int64_t p = 0; p <= live.positions(); ++p) {
    CutCost cut;
    cut.position = p;
    for (const ValueLife* v : live.crossing(p)) {
      cut.bytes += v->bytes;
      cut.tensors.push_back(v->name);
    }
    cut.peakBefore = prefixPeak[static_cast<size_t>(p)];
    cut.peakAfter = suffixPeak[static_cast<size_t>(p)];
    report.cuts.push_back(std::move(cut));
  }
  return report;
}

namespace {

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

}  // namespace

std::string costReportJson(const CostReport& report) {
  std::string out = fmt::format("{{\"model\": {}, \"total_macs\": {}, \"total_weight_bytes\": {}, "
                                "\"peak_activation_bytes\": {},\n \"nodes\": [",
                                jsonString(report.modelName), report.totalMacs, report.totalWeightBytes,
                                report.peakActivationBytes);
  for (size_t i = 0; i < report.nodes.size(); ++i) {
    const NodeCost& n = report.nodes[i];
    out += fmt::format("{}\n  {{\"name\": {}, \"op\": {}, \"class\": \"{}\", \"macs\": {}, \"weight_bytes\": {}, "
                       "\"output_bytes\": {}, \"live_bytes\": {}, \"kernel_bytes\": {}, \"workspace_bytes\": {}, "
                       "\"precision\": \"{}\", \"output_shape\": {}}}",
                       i ? "," : "", jsonString(n.name), jsonString(n.opType), opClassName(n.opClass), n.macs,
                       n.weightBytes, n.outputBytes, n.liveBytes, n.kernelBytes, n.workspaceBytes,
                       n.int8 ? "int8" : "float32", jsonString(n.outputShape));
  }
  out += "],\n \"cuts\": [";
  for (size_t i = 0; i < report.cuts.size(); ++i) {
    const CutCost& c = report.cuts[i];
    std::vector<std::string> names;
    for (const std::string& t : c.tensors) names.push_back(jsonString(t));
    out += fmt::format("{}\n  {{\"position\": {}, \"bytes\": {}, \"tensors\": [{}], \"peak_before\": {}, \"peak_after\": {}}}",
                       i ? "," : "", c.position, c.bytes, fmt::join(names, ", "), c.peakBefore, c.peakAfter);
  }
  return out + "]}\n";
}

}  // namespace cleave
