// Static analysis of a graph: the type of every value, the values known before run time
// (initializers and everything computed only from them), and each node's prepared kernel,
// MAC count and op class. Session, passes, the cost report and stage extraction all start here.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/graph.h"
#include "runtime/op.h"

namespace cleave {

struct GraphAnalysis {
  std::unordered_map<std::string, TensorType> types;
  // Initializers plus propagated constants (outputs of nodes whose inputs are all constant).
  std::unordered_map<std::string, Tensor> constants;
  // One per graph node, same order.
  std::vector<PreparedNode> nodes;
  // Per node: true when every output is a constant, so the node never needs to run.
  std::vector<bool> constantNode;

  const TensorType& typeOf(const std::string& value) const { return types.at(value); }
  bool isConstant(const std::string& value) const { return constants.count(value) != 0; }
};

// Expects nodes in topological order (as the importer leaves them). Errors name the node.
Result<GraphAnalysis> analyzeGraph(const Graph& graph);

}  // namespace cleave
