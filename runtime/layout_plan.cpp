#include "runtime/layout_plan.h"

#include <unordered_map>

namespace cleave {

bool needsConversion(const GraphAnalysis& analysis, const std::string& value) {
  if (value.empty() || analysis.isConstant(value)) return false;
  const Shape& shape = analysis.typeOf(value).shape;
  return shape.size() == 4 && !layoutFree(shape);
}

namespace {

// Ops whose channels-last kernel is worth converting for: the heavy ones.
bool anchorsNhwc(const Node& node) {
  return node.opType == "Conv" || node.opType == "FusedConv" || node.opType == "MaxPool" ||
         node.opType == "AveragePool" || node.opType == "GlobalAveragePool" || node.opType == "QLinearConv" ||
         node.opType == "QLinearAveragePool" || node.opType == "QLinearGlobalAveragePool";
}

}  // namespace

LayoutPlan planLayouts(const Graph& graph, const GraphAnalysis& analysis) {
  LayoutPlan plan;
  plan.nodeLayout.assign(graph.nodes.size(), Layout::Nchw);
  std::unordered_map<std::string, Layout> produced;  // values that need converting, by producer's layout
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (analysis.constantNode[n]) continue;
    const Node& node = graph.nodes[n];
    const PreparedNode& prepared = analysis.nodes[n];
    int nhwcInputs = 0, nchwInputs = 0;
    for (const std::string& in : node.inputs) {
      if (!needsConversion(analysis, in)) continue;
      auto layout = produced.find(in);
      bool nhwc = layout != produced.end() && layout->second == Layout::Nhwc;
      (nhwc ? nhwcInputs : nchwInputs)++;
    }
    Layout layout = Layout::Nchw;
    if (prepared.nhwcKernel) {
      if (anchorsNhwc(node) || nhwcInputs > 0) layout = Layout::Nhwc;
    } else if (prepared.layoutAgnostic && nhwcInputs > 0 && nchwInputs == 0) {
      layout = Layout::Nhwc;
    }
    plan.nodeLayout[n] = layout;
    for (const std::string& out : node.outputs)
      if (needsConversion(analysis, out)) produced[out] = layout;
  }
  return plan;
}

}  // namespace cleave
