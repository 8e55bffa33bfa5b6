#include "runtime/stages.h"

#include <set>

#include <fmt/format.h>

#include "runtime/analysis.h"
#include "runtime/liveness.h"

namespace cleave {

Result<std::vector<Graph>> extractStages(const Graph& graph, std::span<const int64_t> cuts) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  Liveness live = computeLiveness(graph, *analysis);
  for (size_t i = 0; i < cuts.size(); ++i) {
    if (cuts[i] < 0 || cuts[i] > live.positions())
      return Error{fmt::format("cut {} is outside 0..{}", cuts[i], live.positions())};
    if (i > 0 && cuts[i] < cuts[i - 1]) return Error{"cut positions must not decrease"};
  }
  std::vector<int64_t> bounds = {0};
  bounds.insert(bounds.end(), cuts.begin(), cuts.end());
  bounds.push_back(live.positions());

  auto valueInfos = [&](int64_t position) {
    std::vector<ValueInfo> infos;
    for (const ValueLife* v : live.crossing(position)) infos.push_back({v->name, analysis->typeOf(v->name)});
    return infos;
  };

  std::vector<Graph> stages;
  for (size_t s = 0; s + 1 < bounds.size(); ++s) {
    Graph stage;
    stage.name = fmt::format("{}_stage{}", graph.name, s);
    stage.opset = graph.opset;
    stage.inputs = s == 0 ? graph.inputs : valueInfos(bounds[s]);
    stage.outputs = s + 2 == bounds.size() ? graph.outputs : valueInfos(bounds[s + 1]);
    for (ValueInfo& out : stage.outputs) out.type = analysis->typeOf(out.name);
    std::set<std::string> produced;
    for (int64_t p = bounds[s]; p < bounds[s + 1]; ++p) {
      const Node& node = graph.nodes[live.runnable[static_cast<size_t>(p)]];
      for (const std::string& in : node.inputs)
        if (!in.empty() && analysis->isConstant(in)) stage.initializers[in] = analysis->constants.at(in);
      stage.nodes.push_back(node);
    }
    // A graph output that is a constant belongs to the last stage.
    if (s + 2 == bounds.size())
      for (const ValueInfo& out : graph.outputs)
        if (analysis->isConstant(out.name)) stage.initializers[out.name] = analysis->constants.at(out.name);
    stages.push_back(std::move(stage));
  }
  return stages;
}

}  // namespace cleave
