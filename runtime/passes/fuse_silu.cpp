#include "runtime/passes/fuse_silu.h"

#include "runtime/analysis.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {
namespace {

bool isPlain(const Node& node, const char* opType, size_t inputs) {
  return node.domain.empty() && node.opType == opType && node.inputs.size() == inputs && node.outputs.size() == 1 &&
         !node.outputs[0].empty();
}

}  // namespace

Status fuseSilu(Graph& graph, int64_t* changes) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  std::vector<bool> removed(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t m = 0; m < graph.nodes.size(); ++m) {
    const Node& mul = graph.nodes[m];
    if (!isPlain(mul, "Mul", 2)) continue;
    for (size_t side = 0; side < 2; ++side) {
      const std::string& gate = mul.inputs[side];
      const std::string& x = mul.inputs[1 - side];
      std::optional<size_t> sigmoid = graph.producerOf(gate);
      if (!sigmoid || removed[*sigmoid] || !isPlain(graph.nodes[*sigmoid], "Sigmoid", 1) ||
          graph.nodes[*sigmoid].inputs[0] != x || soleConsumer(graph, gate) != m ||
          analysis->typeOf(x).dtype != DType::F32)
        continue;
      // The QuickGelu takes the Mul's place (and name); the Sigmoid goes.
      Node fused;
      fused.name = mul.name;
      fused.opType = "QuickGelu";
      fused.domain = "com.microsoft";
      fused.inputs = {x};
      fused.outputs = mul.outputs;
      fused.attributes.set("alpha", 1.0f);
      graph.nodes[m] = std::move(fused);
      removed[*sigmoid] = true;
      ++count;
      break;
    }
  }
  eraseNodes(graph, removed);
  if (changes) *changes = count;
  return {};
}

}  // namespace cleave
