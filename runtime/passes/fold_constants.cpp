#include "runtime/passes/fold_constants.h"

#include <unordered_set>

#include "runtime/analysis.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {

Status foldConstants(Graph& graph, int64_t* changes) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  std::vector<bool> removed(analysis->constantNode.begin(), analysis->constantNode.end());
  // A DequantizeLinear of constant int8 weights stays: it is what tells lower_qdq.h (and ONNX
  // Runtime) that the weights are quantised. Analysis still computes its output once, so it
  // never runs.
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (graph.nodes[i].opType == "DequantizeLinear" && graph.nodes[i].domain.empty()) removed[i] = false;
  // Only values something still reads need to survive as initializers; constants read only by
  // other folded nodes disappear with them.
  std::unordered_set<std::string> needed;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!removed[i]) needed.insert(graph.nodes[i].inputs.begin(), graph.nodes[i].inputs.end());
  for (const ValueInfo& out : graph.outputs) needed.insert(out.name);
  int64_t folded = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!removed[i]) continue;
    for (const std::string& out : graph.nodes[i].outputs)
      if (!out.empty() && needed.count(out)) graph.initializers[out] = analysis->constants.at(out);
    ++folded;
  }
  eraseNodes(graph, removed);
  if (changes) *changes = folded;
  return {};
}

}  // namespace cleave
