#include "runtime/passes/graph_edit.h"

#include <unordered_set>

#include <fmt/format.h>

namespace cleave {

std::vector<size_t> consumersOf(const Graph& graph, const std::string& value) {
  std::vector<size_t> consumers;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const std::string& in : graph.nodes[i].inputs) {
      if (in == value) {
        consumers.push_back(i);
        break;
      }
    }
  }
  return consumers;
}

std::optional<size_t> soleConsumer(const Graph& graph, const std::string& value) {
  if (value.empty() || graph.useCount(value) != 1 || graph.isGraphOutput(value)) return std::nullopt;
  std::vector<size_t> consumers = consumersOf(graph, value);
  if (consumers.size() != 1) return std::nullopt;
  return consumers[0];
}

void replaceUses(Graph& graph, const std::string& from, const std::string& to) {
  for (Node& node : graph.nodes)
    for (std::string& in : node.inputs)
      if (in == from) in = to;
}

std::string freshValueName(const Graph& graph, const std::string& base) {
  std::unordered_set<std::string> taken;
  for (const auto& entry : graph.initializers) taken.insert(entry.first);
  for (const ValueInfo& info : graph.inputs) taken.insert(info.name);
  for (const ValueInfo& info : graph.outputs) taken.insert(info.name);
  for (const Node& node : graph.nodes) {
    taken.insert(node.inputs.begin(), node.inputs.end());
    taken.insert(node.outputs.begin(), node.outputs.end());
  }
  if (!taken.count(base)) return base;
  // Of taken.size() + 1 distinct suffixed names at least one is free.
  for (size_t i = 1; i <= taken.size(); ++i) {
    std::string name = fmt::format("{}_{}", base, i);
    if (!taken.count(name)) return name;
  }
  return fmt::format("{}_{}", base, taken.size() + 1);
}

bool bypassNode(Graph& graph, size_t node, size_t input, std::vector<bool>& removed) {
  const std::string in = graph.nodes[node].inputs[input];
  const std::string out = graph.nodes[node].outputs[0];
  if (in.empty() || out.empty()) return false;
  if (!graph.isGraphOutput(out)) {
    replaceUses(graph, out, in);
    removed[node] = true;
    return true;
  }
  // The output name is part of the interface: rename the input's producer to it instead.
  std::optional<size_t> producer = graph.producerOf(in);
  if (!producer || removed[*producer] || graph.isGraphOutput(in)) return false;
  for (std::string& o : graph.nodes[*producer].outputs)
    if (o == in) o = out;
  // Readers of `in` now read the same tensor under its new name; readers of `out` are unchanged.
  replaceUses(graph, in, out);
  removed[node] = true;
  return true;
}

void eraseNodes(Graph& graph, const std::vector<bool>& removed) {
  std::vector<Node> kept;
  kept.reserve(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!removed[i]) kept.push_back(std::move(graph.nodes[i]));
  graph.nodes = std::move(kept);
}

bool isPlainNode(const Node& node, const std::string& opType) {
  return node.domain.empty() && node.opType == opType && node.outputs.size() == 1 && !node.outputs[0].empty();
}

std::string stringAttribute(const Node& node, const std::string& name) {
  Result<std::string> value = node.attributes.getString(name, "");
  return value ? *value : "";
}

}  // namespace cleave
