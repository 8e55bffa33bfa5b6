#include "runtime/passes/remove_noops.h"

#include <algorithm>

#include "runtime/analysis.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {
namespace {

// The constant behind a node input as int64s, or nullopt when absent or not constant.
std::optional<std::vector<int64_t>> constantInts(const GraphAnalysis& analysis, const Node& node, size_t input) {
  if (input >= node.inputs.size() || node.inputs[input].empty()) return std::nullopt;
  auto it = analysis.constants.find(node.inputs[input]);
  if (it == analysis.constants.end()) return std::nullopt;
  return it->second.toInt64s();
}

bool allZero(const std::vector<int64_t>& values) {
  return std::all_of(values.begin(), values.end(), [](int64_t v) { return v == 0; });
}

bool isIdentityPerm(const std::vector<int64_t>& perm) {
  for (size_t k = 0; k < perm.size(); ++k)
    if (perm[k] != static_cast<int64_t>(k)) return false;
  return true;
}

// True when `node` (already prepared successfully, so its inputs are well formed) outputs its
// input 0 unchanged.
bool isNoop(const Node& node, const GraphAnalysis& analysis, int64_t opset) {
  if (!node.domain.empty() || node.inputs.empty() || node.inputs[0].empty() || node.outputs.empty() ||
      node.outputs[0].empty())
    return false;
  const TensorType& in = analysis.typeOf(node.inputs[0]);
  const TensorType& out = analysis.typeOf(node.outputs[0]);
  if (in != out) return false;
  const std::string& op = node.opType;
  // Inference Dropout copies (the caller checks its mask output is unread).
  if (op == "Identity" || op == "Dropout") return true;
  // Same shape means the same elements in the same order for these.
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Cast") return true;
  if (op == "Pad") {
    if (opset >= 11) {
      std::optional<std::vector<int64_t>> pads = constantInts(analysis, node, 1);
      return pads && allZero(*pads);
    }
    Result<std::vector<int64_t>> pads = node.attributes.getInts("pads", {});
    return pads && allZero(*pads);
  }
  if (op == "Transpose") {
    if (!node.attributes.has("perm")) return in.shape.size() <= 1;  // the default reverses the dims
    Result<std::vector<int64_t>> perm = node.attributes.getInts("perm", {});
    return perm && isIdentityPerm(*perm);
  }
  if (op == "Slice") {
    // With positive steps, an output as large as the input on every axis is the whole input
    // (a negative step of the same size would reverse it).
    if (opset < 10 || node.inputs.size() < 5 || node.inputs[4].empty()) return true;
    std::optional<std::vector<int64_t>> steps = constantInts(analysis, node, 4);
    return steps && std::all_of(steps->begin(), steps->end(), [](int64_t s) { return s > 0; });
  }
  return false;
}

}  // namespace

Status removeNoops(Graph& graph, int64_t* changes) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  std::vector<bool> removed(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (!isNoop(node, *analysis, graph.opset)) continue;
    // Every output but the first (Dropout's mask) must be unread.
    bool extraOutputsUnused = true;
    for (size_t o = 1; o < node.outputs.size(); ++o)
      extraOutputsUnused = extraOutputsUnused && (node.outputs[o].empty() || graph.useCount(node.outputs[o]) == 0);
    if (extraOutputsUnused && bypassNode(graph, i, 0, removed)) ++count;
  }
  eraseNodes(graph, removed);
  if (changes) *changes = count;
  return {};
}

}  // namespace cleave
