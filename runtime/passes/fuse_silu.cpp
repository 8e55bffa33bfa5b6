#include "runtime/passes/fuse_silu.h"

#include <algorithm>
#include <cmath>

#include "runtime/analysis.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {
namespace {

// HardSigmoid with HardSwish's slope and offset (1/6, 1/2): x * HardSigmoid(x) is HardSwish(x).
bool isHardSwishGate(const Node& node) {
  Result<float> alpha = node.attributes.getFloat("alpha", 0.2f);
  Result<float> beta = node.attributes.getFloat("beta", 0.5f);
  return alpha && beta && std::fabs(*alpha - 1.0f / 6.0f) < 1e-6f && *beta == 0.5f;
}

// HardSwish is an ONNX operator from opset 14. Opset 14 changed nothing an inference graph of
// opset 13 relies on (it added types to Add/Sub/Mul/Div and Relu, Reshape's allowzero defaults
// to the old behaviour, BatchNormalization's training outputs are optional), so a graph that
// gains a HardSwish is declared opset 14.
constexpr int64_t HARD_SWISH_OPSET = 14;

}  // namespace

Status fuseSilu(Graph& graph, int64_t* changes) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  std::vector<bool> removed(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t m = 0; m < graph.nodes.size(); ++m) {
    const Node& mul = graph.nodes[m];
    if (!isPlainNode(mul, "Mul") || mul.inputs.size() != 2) continue;
    for (size_t side = 0; side < 2; ++side) {
      const std::string& gate = mul.inputs[side];
      const std::string& x = mul.inputs[1 - side];
      std::optional<size_t> producer = graph.producerOf(gate);
      if (!producer || removed[*producer] || graph.nodes[*producer].inputs.size() != 1 ||
          graph.nodes[*producer].inputs[0] != x || soleConsumer(graph, gate) != m ||
          analysis->typeOf(x).dtype != DType::F32)
        continue;
      const Node& g = graph.nodes[*producer];
      const bool silu = isPlainNode(g, "Sigmoid");
      // From opset 12 down, moving to 14 would change other ops (Squeeze's axes became an input).
      const bool hardSwish = isPlainNode(g, "HardSigmoid") && isHardSwishGate(g) && graph.opset >= 13;
      if (!silu && !hardSwish) continue;
      // The fused node takes the Mul's place (and name); the gate goes.
      Node fused;
      fused.name = mul.name;
      fused.inputs = {x};
      fused.outputs = mul.outputs;
      if (silu) {
        fused.opType = "QuickGelu";
        fused.domain = "com.microsoft";
        fused.attributes.set("alpha", 1.0f);
      } else {
        fused.opType = "HardSwish";
        graph.opset = std::max(graph.opset, HARD_SWISH_OPSET);
      }
      graph.nodes[m] = std::move(fused);
      removed[*producer] = true;
      ++count;
      break;
    }
  }
  eraseNodes(graph, removed);
  if (changes) *changes = count;
  return {};
}

}  // namespace cleave
