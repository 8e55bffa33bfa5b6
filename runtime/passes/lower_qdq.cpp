#include "runtime/passes/lower_qdq.h"

#include <cmath>
#include <optional>

#include "runtime/analysis.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {
namespace {

// A value read through a DequantizeLinear: the quantised tensor and its scale and zero point.
struct Dequantized {
  std::string value, scale, zeroPoint;
  const Tensor* scales = nullptr;      // constant
  const Tensor* zeroPoints = nullptr;  // constant; null when the node omits it
  const Tensor* data = nullptr;        // the quantised values when they are constant (weights)
  int64_t axis = 1;

  bool perTensor() const { return scales->numel() == 1; }
  float scaleValue() const { return scales->data<float>()[0]; }
  int32_t zeroPointValue() const { return zeroPoints ? static_cast<int32_t>(zeroPoints->toInt64s()[0]) : 0; }
  bool zeroPointsAllZero() const {
    if (!zeroPoints) return true;
    for (int64_t z : zeroPoints->toInt64s())
      if (z != 0) return false;
    return true;
  }
};

const Tensor* constantOf(const GraphAnalysis& analysis, const std::string& value) {
  auto it = analysis.constants.find(value);
  return it == analysis.constants.end() ? nullptr : &it->second;
}

// `value` as the output of a DequantizeLinear of `type` data with constant parameters.
std::optional<Dequantized> dequantizedSource(const Graph& graph, const GraphAnalysis& analysis,
                                             const std::string& value, DType type) {
  std::optional<size_t> producer = graph.producerOf(value);
  if (!producer) return std::nullopt;
  const Node& dq = graph.nodes[*producer];
  if (!isPlainNode(dq, "DequantizeLinear") || dq.inputs.size() < 2) return std::nullopt;
  if (analysis.typeOf(dq.inputs[0]).dtype != type) return std::nullopt;
  Dequantized d;
  d.value = dq.inputs[0];
  d.scale = dq.inputs[1];
  d.scales = constantOf(analysis, d.scale);
  d.data = constantOf(analysis, d.value);
  if (dq.inputs.size() > 2 && !dq.inputs[2].empty()) {
    d.zeroPoint = dq.inputs[2];
    d.zeroPoints = constantOf(analysis, d.zeroPoint);
    if (!d.zeroPoints) return std::nullopt;
  } else if (type != DType::I32) {
    return std::nullopt;  // the default zero point is uint8
  }
  Result<int64_t> axis = dq.attributes.getInt("axis", 1);
  if (!d.scales || !axis) return std::nullopt;
  d.axis = *axis < 0 ? *axis + static_cast<int64_t>(analysis.typeOf(d.value).shape.size()) : *axis;
  return d;
}

// An int8 activation with one scale and zero point.
std::optional<Dequantized> int8Activation(const Graph& graph, const GraphAnalysis& analysis, const std::string& value) {
  std::optional<Dequantized> d = dequantizedSource(graph, analysis, value, DType::I8);
  if (!d || !d->perTensor() || !d->zeroPoints || d->data) return std::nullopt;
  return d;
}

// Where a node's result is quantised: the QuantizeLinear reading it (through at most one
// activation the quantisation's saturation already applies).
struct QuantizedOutput {
  size_t quantize = 0;
  std::optional<size_t> activation;
  std::string value, scale, zeroPoint;
  float scaleValue = 1.0f;
  int32_t zeroPointValue = 0;
};

// True when clamping to the activation's range changes nothing the int8 output can hold.
bool saturationCovers(const GraphAnalysis& analysis, const Node& activation, float scale, int32_t zeroPoint) {
  if (zeroPoint != -128) return false;  // the floor 0 must be the lowest code
  if (activation.opType == "Relu") return true;
  if (activation.opType != "Clip") return false;
  const Tensor* low = activation.inputs.size() > 1 ? constantOf(analysis, activation.inputs[1]) : nullptr;
  if (!low || low->toFloats()[0] != 0.0f) return false;
  if (activation.inputs.size() < 3 || activation.inputs[2].empty()) return true;
  const Tensor* high = constantOf(analysis, activation.inputs[2]);
  return high && zeroPoint + std::nearbyint(high->toFloats()[0] / scale) >= 127.0f;
}

std::optional<QuantizedOutput> quantizedOutput(const Graph& graph, const GraphAnalysis& analysis, size_t node,
                                               bool allowActivation) {
  QuantizedOutput out;
  std::optional<size_t> consumer = soleConsumer(graph, graph.nodes[node].outputs[0]);
  if (!consumer) return std::nullopt;
  if (allowActivation && (isPlainNode(graph.nodes[*consumer], "Relu") || isPlainNode(graph.nodes[*consumer], "Clip"))) {
    out.activation = consumer;
    consumer = soleConsumer(graph, graph.nodes[*consumer].outputs[0]);
    if (!consumer) return std::nullopt;
  }
  const Node& q = graph.nodes[*consumer];
  if (!isPlainNode(q, "QuantizeLinear") || q.inputs.size() != 3) return std::nullopt;
  const Tensor* scale = constantOf(analysis, q.inputs[1]);
  const Tensor* zeroPoint = constantOf(analysis, q.inputs[2]);
  if (!scale || !zeroPoint || scale->numel() != 1 || zeroPoint->dtype() != DType::I8) return std::nullopt;
  out.quantize = *consumer;
  out.value = q.outputs[0];
  out.scale = q.inputs[1];
  out.zeroPoint = q.inputs[2];
  out.scaleValue = scale->data<float>()[0];
  out.zeroPointValue = zeroPoint->data<int8_t>()[0];
  if (out.activation && !saturationCovers(analysis, graph.nodes[*out.activation], out.scaleValue, out.zeroPointValue))
    return std::nullopt;
  return out;
}

// int8 weights with zero points 0, one scale or one per output channel along `axis`.
std::optional<Dequantized> int8Weights(const Graph& graph, const GraphAnalysis& analysis, const std::string& value,
                                       int64_t axis) {
  std::optional<Dequantized> w = dequantizedSource(graph, analysis, value, DType::I8);
  if (!w || !w->data || !w->zeroPointsAllZero()) return std::nullopt;
  if (!w->perTensor() && (w->axis != axis || w->scales->numel() != w->data->dim(static_cast<size_t>(axis))))
    return std::nullopt;
  return w;
}

// An int32 bias with zero point 0 at scale s_x * s_w per channel (to float's precision).
bool isInt32Bias(const Dequantized& bias, const Dequantized& x, const Dequantized& w, int64_t channels) {
  if (!bias.data || !bias.zeroPointsAllZero() || bias.data->numel() != channels) return false;
  if (bias.scales->numel() != channels && bias.scales->numel() != 1) return false;
  for (int64_t c = 0; c < channels; ++c) {
    const double expected =
        static_cast<double>(x.scaleValue()) * static_cast<double>(w.scales->data<float>()[w.perTensor() ? 0 : c]);
    const double actual = bias.scales->data<float>()[bias.perTensor() ? 0 : c];
    if (std::fabs(actual - expected) > 1e-5 * expected) return false;
  }
  return true;
}

// Gemm computing A * B (or B') + C, nothing scaled or transposed on the activation's side.
bool isPlainGemm(const Node& gemm) {
  Result<float> alpha = gemm.attributes.getFloat("alpha", 1.0f), beta = gemm.attributes.getFloat("beta", 1.0f);
  Result<int64_t> transA = gemm.attributes.getInt("transA", 0);
  return alpha && *alpha == 1.0f && beta && *beta == 1.0f && transA && *transA == 0;
}

bool sameQuantisation(const Dequantized& in, const QuantizedOutput& out) {
  return in.scaleValue() == out.scaleValue && in.zeroPointValue() == out.zeroPointValue;
}

// The int8 node that replaces `node` (and its activation and QuantizeLinear), if its pattern holds.
std::optional<Node> lowered(const Graph& graph, const GraphAnalysis& analysis, size_t index,
                            std::optional<QuantizedOutput>& out) {
  const Node& node = graph.nodes[index];
  if (!node.domain.empty() && node.domain != "ai.onnx") return std::nullopt;
  const std::string& op = node.opType;
  const bool weighted = op == "Conv" || op == "Gemm" || op == "MatMul";
  out = quantizedOutput(graph, analysis, index, weighted || op == "Add" || op == "Mul");
  if (!out || node.inputs.empty()) return std::nullopt;
  Node result;
  result.name = node.name;
  result.outputs = {out->value};

  if (weighted) {
    std::optional<Dequantized> x = int8Activation(graph, analysis, node.inputs[0]);
    if (!x || node.inputs.size() < 2) return std::nullopt;
    const bool gemm = op != "Conv";
    Result<int64_t> transB = node.attributes.getInt("transB", 0);
    const int64_t axis = op == "Conv" ? 0 : op == "MatMul" ? 1 : (transB && *transB == 1 ? 0 : 1);
    std::optional<Dequantized> w = int8Weights(graph, analysis, node.inputs[1], axis);
    if (!w) return std::nullopt;
    const int64_t channels = w->data->dim(static_cast<size_t>(axis));
    std::string biasValue;
    if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
      std::optional<Dequantized> b = dequantizedSource(graph, analysis, node.inputs[2], DType::I32);
      if (!b || !isInt32Bias(*b, *x, *w, channels)) return std::nullopt;
      biasValue = b->value;
    }
    if (gemm) {
      if (op == "Gemm" && !isPlainGemm(node)) return std::nullopt;
      if (analysis.typeOf(node.inputs[0]).shape.size() != 2 || w->data->rank() != 2) return std::nullopt;
      result.opType = "QGemm";
      result.domain = "com.microsoft";
      result.inputs = {x->value,     x->scale,  x->zeroPoint, w->value,      w->scale,
                       w->zeroPoint, biasValue, out->scale,   out->zeroPoint};
      result.attributes.set("transB", axis == 0 ? int64_t{1} : int64_t{0});
      result.attributes.set("alpha", 1.0f);
    } else {
      result.opType = "QLinearConv";
      result.inputs = {x->value, x->scale, x->zeroPoint, w->value, w->scale, w->zeroPoint, out->scale, out->zeroPoint};
      if (!biasValue.empty()) result.inputs.push_back(biasValue);
      result.attributes = node.attributes;
    }
    if (w->zeroPoint.empty()) return std::nullopt;  // QLinearConv and QGemm need it named
    return result;
  }

  if (op == "Add" || op == "Mul") {
    if (node.inputs.size() != 2) return std::nullopt;
    std::optional<Dequantized> a = int8Activation(graph, analysis, node.inputs[0]);
    std::optional<Dequantized> b = int8Activation(graph, analysis, node.inputs[1]);
    if (!a || !b || analysis.typeOf(a->value).shape != analysis.typeOf(b->value).shape) return std::nullopt;
    result.opType = op == "Add" ? "QLinearAdd" : "QLinearMul";
    result.domain = "com.microsoft";
    result.inputs = {a->value, a->scale, a->zeroPoint, b->value, b->scale, b->zeroPoint, out->scale, out->zeroPoint};
    return result;
  }

  if (op == "Concat") {
    result.opType = "QLinearConcat";
    result.domain = "com.microsoft";
    result.attributes = node.attributes;
    result.inputs = {out->scale, out->zeroPoint};
    for (const std::string& input : node.inputs) {
      std::optional<Dequantized> x = int8Activation(graph, analysis, input);
      if (!x) return std::nullopt;
      result.inputs.insert(result.inputs.end(), {x->value, x->scale, x->zeroPoint});
    }
    return result;
  }

  // The rest keep their input's scale and zero point.
  std::optional<Dequantized> x = int8Activation(graph, analysis, node.inputs[0]);
  if (!x || !sameQuantisation(*x, *out)) return std::nullopt;
  if (op == "AveragePool" || op == "GlobalAveragePool") {
    result.opType = "QLinear" + op;
    result.domain = "com.microsoft";
    result.attributes = node.attributes;
    if (op == "GlobalAveragePool") result.attributes.set("channels_last", int64_t{0});
    result.inputs = {x->value, x->scale, x->zeroPoint, out->scale, out->zeroPoint};
    return result;
  }
  if ((op == "MaxPool" && node.outputs.size() == 1) || op == "Flatten" || op == "Reshape") {
    result.opType = op;
    result.attributes = node.attributes;
    result.inputs = node.inputs;
    result.inputs[0] = x->value;
    return result;
  }
  return std::nullopt;
}

}  // namespace

Status lowerQdq(Graph& graph, int64_t* changes) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  std::vector<bool> removed(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (removed[i] || analysis->constantNode[i]) continue;
    std::optional<QuantizedOutput> out;
    std::optional<Node> replacement = lowered(graph, *analysis, i, out);
    if (!replacement || removed[out->quantize] || (out->activation && removed[*out->activation])) continue;
    // The int8 node takes the float node's place; everything it reads is available there, and
    // everything reading its output comes after the QuantizeLinear it replaces.
    graph.nodes[i] = std::move(*replacement);
    removed[out->quantize] = true;
    if (out->activation) removed[*out->activation] = true;
    ++count;
  }
  eraseNodes(graph, removed);
  if (changes) *changes = count;
  return {};
}

}  // namespace cleave
