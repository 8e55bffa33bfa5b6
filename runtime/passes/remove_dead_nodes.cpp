#include "runtime/passes/remove_dead_nodes.h"

#include <unordered_set>

#include "runtime/passes/graph_edit.h"

namespace cleave {

Status removeDeadNodes(Graph& graph, DeadCodeCounts* counts) {
  // Walk backwards from the graph outputs; nodes are in topological order, so one reverse sweep
  // sees every reader of a value before its producer.
  std::unordered_set<std::string> live;
  for (const ValueInfo& out : graph.outputs) live.insert(out.name);
  std::vector<bool> removed(graph.nodes.size(), true);
  for (size_t i = graph.nodes.size(); i-- > 0;) {
    const Node& node = graph.nodes[i];
    bool reachesOutput = false;
    for (const std::string& out : node.outputs) reachesOutput = reachesOutput || (!out.empty() && live.count(out));
    if (!reachesOutput) continue;
    removed[i] = false;
    for (const std::string& in : node.inputs)
      if (!in.empty()) live.insert(in);
  }
  DeadCodeCounts found;
  for (bool r : removed) found.nodes += r;
  eraseNodes(graph, removed);
  for (auto it = graph.initializers.begin(); it != graph.initializers.end();) {
    if (live.count(it->first)) {
      ++it;
    } else {
      it = graph.initializers.erase(it);
      ++found.initializers;
    }
  }
  if (counts) *counts = found;
  return {};
}

}  // namespace cleave
