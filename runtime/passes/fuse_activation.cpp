#include "runtime/passes/fuse_activation.h"

#include <limits>

#include "runtime/analysis.h"
#include "runtime/ops/activation.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {
namespace {

constexpr const char* MICROSOFT_DOMAIN = "com.microsoft";

// Reads Clip's bound from input `i` into `bound` when given; false when it is given but is not
// a constant f32 scalar (then the Clip cannot be fused).
bool clipBound(const GraphAnalysis& analysis, const Node& node, size_t i, float& bound) {
  if (i >= node.inputs.size() || node.inputs[i].empty()) return true;
  auto it = analysis.constants.find(node.inputs[i]);
  if (it == analysis.constants.end() || it->second.dtype() != DType::F32 || it->second.numel() != 1) return false;
  bound = it->second.data<float>()[0];
  return true;
}

// The activation an ONNX node computes, or nullopt when it is not one we fuse (or its
// parameters are not constants).
std::optional<Activation> activationOf(const Node& node, const GraphAnalysis& analysis, int64_t opset) {
  if (!node.domain.empty() || node.inputs.empty() || node.outputs.size() != 1) return std::nullopt;
  const std::string& op = node.opType;
  std::vector<float> params;
  if (op == "LeakyRelu") {
    Result<float> alpha = node.attributes.getFloat("alpha", 0.01f);
    if (!alpha) return std::nullopt;
    params = {*alpha};
  } else if (op == "HardSigmoid") {
    Result<float> alpha = node.attributes.getFloat("alpha", 0.2f);
    Result<float> beta = node.attributes.getFloat("beta", 0.5f);
    if (!alpha || !beta) return std::nullopt;
    params = {*alpha, *beta};
  } else if (op == "Clip") {
    float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
    if (opset >= 11) {
      if (!clipBound(analysis, node, 1, lo) || !clipBound(analysis, node, 2, hi)) return std::nullopt;
    } else {
      Result<float> min = node.attributes.getFloat("min", lo);
      Result<float> max = node.attributes.getFloat("max", hi);
      if (!min || !max) return std::nullopt;
      lo = *min;
      hi = *max;
    }
    params = {lo, hi};
  } else if (op != "Relu" && op != "Sigmoid") {
    // Not HardSwish: ONNX Runtime's FusedConv/FusedGemm reject it ("unknown kernel type"), and
    // an optimised model must stay loadable there.
    return std::nullopt;
  }
  Result<Activation> activation = Activation::fromName(op, params);
  if (!activation) return std::nullopt;
  return *activation;
}

bool hasZ(const Node& node) { return node.inputs.size() > 3 && !node.inputs[3].empty(); }

// Conv/Gemm, or their fused forms that carry no activation yet.
bool canTakeActivation(const Node& node) {
  if (node.outputs.size() != 1) return false;
  if (node.domain.empty()) return node.opType == "Conv" || node.opType == "Gemm";
  return node.domain == MICROSOFT_DOMAIN && (node.opType == "FusedConv" || node.opType == "FusedGemm") &&
         stringAttribute(node, "activation").empty();
}

// A plain conv (or a FusedConv with nothing fused yet) that can absorb a residual Add as Z.
bool canTakeResidual(const Node& node) {
  return canTakeActivation(node) && (node.opType == "Conv" || (node.opType == "FusedConv" && !hasZ(node)));
}

Node asFused(Node node, const std::string& output) {
  node.domain = MICROSOFT_DOMAIN;
  node.opType = node.opType == "Conv" || node.opType == "FusedConv" ? "FusedConv" : "FusedGemm";
  node.outputs = {output};
  return node;
}

// `node` as its fused form carrying `activation` and writing `output`.
Node withActivation(Node node, const Activation& activation, const std::string& output) {
  node = asFused(std::move(node), output);
  node.attributes.set("activation", activation.name());
  if (activation.params().empty()) {
    node.attributes.erase("activation_params");
  } else {
    node.attributes.set("activation_params", activation.params());
  }
  return node;
}

// Add(conv, other) with `other` of exactly the conv's type (no broadcasting) -> FusedConv with
// Z = other. Returns the conv's index when the pattern matches.
std::optional<size_t> residualConv(const Graph& graph, const GraphAnalysis& analysis, size_t add,
                                   const std::vector<bool>& removed, std::string& other) {
  const Node& node = graph.nodes[add];
  if (!node.domain.empty() || node.opType != "Add" || node.inputs.size() != 2 || node.outputs.size() != 1 ||
      node.outputs[0].empty())
    return std::nullopt;
  for (size_t side = 0; side < 2; ++side) {
    const std::string& convOut = node.inputs[side];
    other = node.inputs[1 - side];
    std::optional<size_t> conv = graph.producerOf(convOut);
    if (other.empty() || !conv || removed[*conv] || !canTakeResidual(graph.nodes[*conv]) ||
        soleConsumer(graph, convOut) != add || analysis.typeOf(convOut) != analysis.typeOf(other) ||
        analysis.typeOf(convOut).dtype != DType::F32)
      continue;
    return conv;
  }
  return std::nullopt;
}

}  // namespace

Status fuseActivations(Graph& graph, int64_t* changes) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  std::vector<bool> removed(graph.nodes.size(), false);
  int64_t count = 0;
  // Each fused node takes the place of the last node it absorbs: by then every input it reads
  // (including a residual Z produced after the conv) exists, so the order stays topological.
  // Conv -> Add -> Relu fuses in one sweep: the Add first, then the Relu into the result.
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    std::string other;
    if (std::optional<size_t> conv = residualConv(graph, *analysis, i, removed, other)) {
      Node node = asFused(std::move(graph.nodes[*conv]), graph.nodes[i].outputs[0]);
      node.inputs.resize(4);
      node.inputs[3] = other;
      graph.nodes[i] = std::move(node);
      graph.nodes[*conv].outputs.clear();  // moved from; must not look like a producer
      removed[*conv] = true;
      ++count;
      continue;
    }
    std::optional<Activation> activation = activationOf(graph.nodes[i], *analysis, graph.opset);
    if (!activation) continue;
    const std::string input = graph.nodes[i].inputs[0], output = graph.nodes[i].outputs[0];
    if (output.empty() || analysis->typeOf(input).dtype != DType::F32) continue;
    std::optional<size_t> source = graph.producerOf(input);
    if (!source || removed[*source] || soleConsumer(graph, input) != i || !canTakeActivation(graph.nodes[*source]))
      continue;
    graph.nodes[i] = withActivation(std::move(graph.nodes[*source]), *activation, output);
    graph.nodes[*source].outputs.clear();
    removed[*source] = true;
    ++count;
  }
  eraseNodes(graph, removed);
  if (changes) *changes = count;
  return {};
}

}  // namespace cleave
