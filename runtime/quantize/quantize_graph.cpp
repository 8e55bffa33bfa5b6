#include "runtime/quantize/quantize_graph.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "runtime/analysis.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {
namespace {

// What quantisation does with a node.
enum class Role {
  Constant,         // computed before run time; left alone
  Weighted,         // Conv, Gemm, MatMul: int8 weights per output channel, int32 bias
  Elementwise,      // Add, Mul of two activations of one shape
  Concat,           // inputs requantised to the output's scale
  SameScale,        // pooling and reshapes: the output keeps the input's scale and zero point
  FusedActivation,  // Relu or Clip(0, max) after a Weighted or Elementwise node: a clamp
  Float,            // no int8 kernel
};

bool isQuantizedRole(Role role) { return role != Role::Constant && role != Role::Float; }

struct ActivationQuantisation {
  float scale = 1.0f;
  int8_t zeroPoint = 0;
};

// Asymmetric int8 over the range widened to hold 0, so that 0 (zero padding, a ReLU's floor) is
// exactly representable by the zero point.
ActivationQuantisation activationQuantisation(ValueRange range) {
  const double low = std::min(0.0, static_cast<double>(range.min));
  const double high = std::max(0.0, static_cast<double>(range.max));
  ActivationQuantisation q;
  q.scale = static_cast<float>((high - low) / 255.0);
  if (!(q.scale > 0.0f) || !std::isfinite(q.scale)) q.scale = 1.0f;  // a value that is always 0
  const double zeroPoint = std::nearbyint(-128.0 - low / static_cast<double>(q.scale));
  q.zeroPoint = static_cast<int8_t>(std::clamp(zeroPoint, -128.0, 127.0));
  return q;
}

const Tensor* constantInput(const GraphAnalysis& analysis, const Node& node, size_t i) {
  if (i >= node.inputs.size() || node.inputs[i].empty()) return nullptr;
  auto it = analysis.constants.find(node.inputs[i]);
  return it == analysis.constants.end() ? nullptr : &it->second;
}

bool isActivation(const GraphAnalysis& analysis, const Node& node, size_t i) {
  return i < node.inputs.size() && !node.inputs[i].empty() && !analysis.isConstant(node.inputs[i]) &&
         analysis.typeOf(node.inputs[i]).dtype == DType::F32;
}

int64_t intAttribute(const Node& node, const std::string& name, int64_t fallback) {
  Result<int64_t> value = node.attributes.getInt(name, fallback);
  return value ? *value : std::numeric_limits<int64_t>::min();
}

float floatAttribute(const Node& node, const std::string& name, float fallback) {
  Result<float> value = node.attributes.getFloat(name, fallback);
  return value ? *value : NAN;
}

// The axis of a weighted node's weight that indexes its output channels, or -1 when the node
// cannot be quantised (weights not constant, Gemm with scaling or a transposed A, ...).
int64_t outputChannelAxis(const GraphAnalysis& analysis, const Node& node) {
  const Tensor* weights = constantInput(analysis, node, 1);
  if (!weights || weights->dtype() != DType::F32 || !isActivation(analysis, node, 0)) return -1;
  if (node.opType == "Conv") return weights->rank() >= 3 ? 0 : -1;
  if (weights->rank() != 2 || analysis.typeOf(node.inputs[0]).shape.size() != 2) return -1;
  if (node.opType == "MatMul") return 1;
  // Gemm: only Y = A * B' + C (or A * B + C) with a per-output-channel C.
  if (floatAttribute(node, "alpha", 1.0f) != 1.0f || floatAttribute(node, "beta", 1.0f) != 1.0f ||
      intAttribute(node, "transA", 0) != 0)
    return -1;
  const int64_t axis = intAttribute(node, "transB", 0) == 1 ? 0 : 1;
  if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
    const Tensor* bias = constantInput(analysis, node, 2);
    if (!bias || bias->numel() != weights->dim(static_cast<size_t>(axis))) return -1;
  }
  return axis;
}

// MaxPool takes any window on int8 data (a maximum is the same in any scale); the int8 average
// pool has no dilations or ceil_mode.
bool isPlainPooling(const Node& node) {
  if (node.opType == "MaxPool") return node.outputs.size() == 1;
  if (node.attributes.has("dilations") || intAttribute(node, "ceil_mode", 0) != 0) return false;
  if (node.opType == "AveragePool" && intAttribute(node, "count_include_pad", 0) != 0) return false;
  return node.outputs.size() == 1;
}

Role roleOf(const Graph& graph, const GraphAnalysis& analysis, size_t index, const std::vector<Role>& roles) {
  const Node& node = graph.nodes[index];
  if (analysis.constantNode[index]) return Role::Constant;
  if (!node.domain.empty() && node.domain != "ai.onnx") return Role::Float;
  const std::string& op = node.opType;
  if (op == "Conv" || op == "Gemm" || op == "MatMul")
    return outputChannelAxis(analysis, node) >= 0 ? Role::Weighted : Role::Float;
  if (op == "Add" || op == "Mul")
    return isActivation(analysis, node, 0) && isActivation(analysis, node, 1) &&
                   analysis.typeOf(node.inputs[0]) == analysis.typeOf(node.inputs[1])
               ? Role::Elementwise
               : Role::Float;
  if (op == "Concat") {
    for (size_t i = 0; i < node.inputs.size(); ++i)
      if (!isActivation(analysis, node, i)) return Role::Float;
    return Role::Concat;
  }
  if (op == "MaxPool" || op == "AveragePool")
    return isActivation(analysis, node, 0) && isPlainPooling(node) ? Role::SameScale : Role::Float;
  if (op == "GlobalAveragePool" || op == "Flatten" || op == "Reshape")
    return isActivation(analysis, node, 0) ? Role::SameScale : Role::Float;
  if (op == "Relu" || op == "Clip") {
    if (op == "Clip") {
      const Tensor* low = constantInput(analysis, node, 1);
      if (!low || low->numel() != 1 || low->toFloats()[0] != 0.0f) return Role::Float;
      if (node.inputs.size() > 2 && !node.inputs[2].empty() && !constantInput(analysis, node, 2)) return Role::Float;
    }
    std::optional<size_t> producer = graph.producerOf(node.inputs[0]);
    if (producer && (roles[*producer] == Role::Weighted || roles[*producer] == Role::Elementwise) &&
        soleConsumer(graph, node.inputs[0]) == index)
      return Role::FusedActivation;
  }
  return Role::Float;
}

// Per-channel symmetric int8 weights along `axis`: scale = max |w| / 127, values in [-127, 127].
struct QuantizedWeights {
  Tensor values;  // int8, the weight's shape
  std::vector<float> scales;
};

QuantizedWeights quantizeWeights(const Tensor& weights, int64_t axis) {
  const Shape& shape = weights.shape();
  const int64_t channels = shape[static_cast<size_t>(axis)];
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  auto channelOf = [&](int64_t flat) { return static_cast<size_t>((flat / inner) % channels); };
  std::span<const float> w = weights.values<float>();
  QuantizedWeights q{Tensor::zeros(DType::I8, shape), std::vector<float>(static_cast<size_t>(channels), 0.0f)};
  for (int64_t i = 0; i < weights.numel(); ++i)
    q.scales[channelOf(i)] = std::max(q.scales[channelOf(i)], std::fabs(w[static_cast<size_t>(i)]));
  for (float& scale : q.scales) scale = scale > 0.0f ? scale / 127.0f : 1.0f;  // an all-zero channel
  int8_t* out = q.values.data<int8_t>();
  for (int64_t i = 0; i < weights.numel(); ++i)
    out[i] = static_cast<int8_t>(
        std::clamp(std::nearbyint(w[static_cast<size_t>(i)] / q.scales[channelOf(i)]), -127.0f, 127.0f));
  return q;
}

int64_t initializerBytes(const Graph& graph) {
  int64_t bytes = 0;
  for (const auto& [name, tensor] : graph.initializers) bytes += static_cast<int64_t>(tensor.bytes());
  return bytes;
}

// Drops initializers nothing reads any more (the float weights that were quantised).
void dropUnreadInitializers(Graph& graph) {
  std::set<std::string> read;
  for (const Node& node : graph.nodes) read.insert(node.inputs.begin(), node.inputs.end());
  for (const ValueInfo& output : graph.outputs) read.insert(output.name);
  for (auto it = graph.initializers.begin(); it != graph.initializers.end();)
    it = read.count(it->first) ? std::next(it) : graph.initializers.erase(it);
}

// Builds the quantised node list of one graph.
class QdqWriter {
 public:
  QdqWriter(Graph& graph, const GraphAnalysis& analysis) : graph_(graph), analysis_(analysis) {
    for (const auto& [name, tensor] : graph.initializers) used_.insert(name);
    for (const ValueInfo& input : graph.inputs) used_.insert(input.name);
    for (const Node& node : graph.nodes) {
      used_.insert(node.inputs.begin(), node.inputs.end());
      used_.insert(node.outputs.begin(), node.outputs.end());
    }
  }

  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int n = 1; used_.count(name); ++n) name = fmt::format("{}_{}", base, n);
    used_.insert(name);
    return name;
  }

  std::string addInitializer(const std::string& base, Tensor value) {
    std::string name = fresh(base);
    graph_.initializers[name] = std::move(value);
    return name;
  }

  void emit(Node node) { nodes_.push_back(std::move(node)); }

  // QuantizeLinear of `from` into `to` with `q`.
  void quantize(const std::string& value, const std::string& from, const std::string& to, ActivationQuantisation q) {
    const std::string scale = addInitializer(value + "_scale", Tensor::scalar<float>(q.scale));
    const std::string zeroPoint = addInitializer(value + "_zero_point", Tensor::scalar<int8_t>(q.zeroPoint));
    scaleOf_[value] = {scale, zeroPoint};
    emit(Node{fresh(value + "_QuantizeLinear"), "QuantizeLinear", "", {from, scale, zeroPoint}, {to}, {}});
  }

  void dequantize(const std::string& value, const std::string& from, const std::string& to) {
    auto [scale, zeroPoint] = scaleOf_.at(value);
    emit(Node{fresh(value + "_DequantizeLinear"), "DequantizeLinear", "", {from, scale, zeroPoint}, {to}, {}});
  }

  // An int8 graph input (integer-only) read through a DequantizeLinear.
  void dequantizeInput(const std::string& value, ActivationQuantisation q) {
    scaleOf_[value] = {addInitializer(value + "_scale", Tensor::scalar<float>(q.scale)),
                       addInitializer(value + "_zero_point", Tensor::scalar<int8_t>(q.zeroPoint))};
    const std::string dequantized = fresh(value + "_dequantized");
    dequantize(value, value, dequantized);
    reads_[value] = dequantized;
  }

  // Q and DQ after a float value: a graph input, or the output of the node just emitted, which
  // wrote it as `source`. A graph output keeps its name on the last node (the DequantizeLinear,
  // or for integer-only the QuantizeLinear); anything else is read through its dequantised copy.
  void quantizeValue(const std::string& value, const std::string& source, ActivationQuantisation q, bool graphOutput,
                     bool integerOnly) {
    if (graphOutput) {
      const std::string quantized = integerOnly ? value : fresh(value + "_quantized");
      quantize(value, source, quantized, q);
      if (!integerOnly) dequantize(value, quantized, value);
      return;
    }
    const std::string quantized = fresh(value + "_quantized"), dequantized = fresh(value + "_dequantized");
    quantize(value, source, quantized, q);
    dequantize(value, quantized, dequantized);
    reads_[value] = dequantized;
  }

  // The name a consumer reads for `value`: its dequantised copy when it has one.
  std::string readName(const std::string& value) const {
    auto it = reads_.find(value);
    return it == reads_.end() ? value : it->second;
  }

  float scaleValue(const std::string& value) const {
    return graph_.initializers.at(scaleOf_.at(value).first).data<float>()[0];
  }

  // Replaces a weighted node's float weight (input 1) and bias (input 2) by dequantised int8 and
  // int32 initializers.
  void quantizeWeightsOf(Node& node, int64_t axis, float inputScale) {
    const Tensor& weights = analysis_.constants.at(node.inputs[1]);
    QuantizedWeights q = quantizeWeights(weights, axis);
    const auto channels = static_cast<int64_t>(q.scales.size());
    const std::string base = node.inputs[1];
    const std::string values = addInitializer(base + "_quantized", std::move(q.values));
    const std::string scales = addInitializer(base + "_scale", Tensor::fromVector<float>({channels}, q.scales));
    const std::string zeros = addInitializer(base + "_zero_point", Tensor::zeros(DType::I8, {channels}));
    const std::string dequantized = fresh(base + "_dequantized");
    Node dq{fresh(base + "_DequantizeLinear"), "DequantizeLinear", "", {values, scales, zeros}, {dequantized}, {}};
    dq.attributes.set("axis", axis);
    emit(std::move(dq));
    node.inputs[1] = dequantized;
    if (node.inputs.size() < 3 || node.inputs[2].empty()) return;

    const Tensor& bias = analysis_.constants.at(node.inputs[2]);
    std::vector<float> biasScales(q.scales.size());
    std::vector<int32_t> biasValues(q.scales.size());
    std::vector<float> floats = bias.toFloats();
    for (size_t c = 0; c < q.scales.size(); ++c) {
      biasScales[c] = inputScale * q.scales[c];
      const double v = std::nearbyint(static_cast<double>(floats[c]) / static_cast<double>(biasScales[c]));
      biasValues[c] = static_cast<int32_t>(std::clamp(v, -2147483647.0, 2147483647.0));
    }
    const std::string biasBase = node.inputs[2];
    const std::string biasInts =
        addInitializer(biasBase + "_quantized", Tensor::fromVector<int32_t>({channels}, biasValues));
    const std::string biasScale =
        addInitializer(biasBase + "_scale", Tensor::fromVector<float>({channels}, biasScales));
    const std::string biasZeros = addInitializer(biasBase + "_zero_point", Tensor::zeros(DType::I32, {channels}));
    const std::string biasDequantized = fresh(biasBase + "_dequantized");
    Node biasDq{fresh(biasBase + "_DequantizeLinear"), "DequantizeLinear", "",
                {biasInts, biasScale, biasZeros},      {biasDequantized},  {}};
    biasDq.attributes.set("axis", int64_t{0});
    emit(std::move(biasDq));
    node.inputs[2] = biasDequantized;
  }

  std::vector<Node> take() { return std::move(nodes_); }

 private:
  Graph& graph_;
  const GraphAnalysis& analysis_;
  std::set<std::string> used_;
  std::vector<Node> nodes_;
  std::map<std::string, std::string> reads_;
  std::map<std::string, std::pair<std::string, std::string>> scaleOf_;  // value -> (scale, zero point)
};

}  // namespace

bool hasInt8Kernel(const std::string& opType) {
  static const std::set<std::string> ops = {"Conv",   "Gemm",    "MatMul",           "Add",     "Mul",
                                            "Concat", "MaxPool", "AveragePool",      "Flatten", "Reshape",
                                            "Relu",   "Clip",    "GlobalAveragePool"};
  return ops.count(opType) != 0;
}

Result<QuantizeReport> quantizeGraph(Graph& graph, const std::map<std::string, ValueRange>& ranges, QuantizeMode mode) {
  Result<GraphAnalysis> analysisResult = analyzeGraph(graph);
  if (!analysisResult) return analysisResult.error();
  const GraphAnalysis& analysis = *analysisResult;
  const bool integerOnly = mode == QuantizeMode::IntegerOnly;
  QuantizeReport report;
  report.weightBytesBefore = initializerBytes(graph);

  for (const Node& node : graph.nodes)
    if (node.opType == "QuantizeLinear" || node.opType == "DequantizeLinear")
      return Error{fmt::format("node '{}' ({}): the model is quantised already", node.name, node.opType)};
  std::vector<Role> roles(graph.nodes.size(), Role::Float);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    roles[i] = roleOf(graph, analysis, i, roles);
    if (roles[i] != Role::Float) continue;
    const bool softmaxTail =
        node.opType == "Softmax" && node.outputs.size() == 1 && graph.isGraphOutput(node.outputs[0]);
    const std::string what = fmt::format("node '{}' ({})", node.name, node.opType);
    if (integerOnly || (mode == QuantizeMode::Int8 && !softmaxTail))
      return Error{fmt::format(
          "{} has no int8 kernel{}: {}", what, hasInt8Kernel(node.opType) ? " for its inputs or attributes" : "",
          integerOnly ? "an integer-only model cannot hold it" : "--mode int8-float-fallback keeps it in float")};
    report.floatNodes.push_back(what);
  }

  // The values that get a scale and zero point: every float activation a quantised node reads or
  // writes, except the output of a node whose activation is fused (the activation's output is
  // the one quantised).
  std::set<std::string> quantized;
  auto fusedInto = [&](const std::string& value) {
    std::optional<size_t> consumer = soleConsumer(graph, value);
    return consumer && roles[*consumer] == Role::FusedActivation;
  };
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    if (!isQuantizedRole(roles[i])) continue;
    const Node& node = graph.nodes[i];
    for (size_t k = 0; k < node.inputs.size(); ++k)
      if (isActivation(analysis, node, k) && roles[i] != Role::FusedActivation) quantized.insert(node.inputs[k]);
    if (!fusedInto(node.outputs[0])) quantized.insert(node.outputs[0]);
  }
  if (integerOnly)
    for (const ValueInfo& input : graph.inputs) quantized.insert(input.name);

  // Scales: from the calibrated range, or the input's for a node that must keep it.
  std::map<std::string, ActivationQuantisation> quantisationOf;
  auto calibrated = [&](const std::string& value) -> Result<ActivationQuantisation> {
    auto it = ranges.find(value);
    if (it == ranges.end()) return Error{fmt::format("no calibration range for value '{}'", value)};
    return activationQuantisation(it->second);
  };
  for (const ValueInfo& input : graph.inputs)
    if (quantized.count(input.name)) {
      Result<ActivationQuantisation> q = calibrated(input.name);
      if (!q) return q.error();
      quantisationOf[input.name] = *q;
    }
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const std::string& output = graph.nodes[i].outputs[0];
    if (!quantized.count(output)) continue;
    if (roles[i] == Role::SameScale) {
      quantisationOf[output] = quantisationOf.at(graph.nodes[i].inputs[0]);
      continue;
    }
    Result<ActivationQuantisation> q = calibrated(output);
    if (!q) return q.error();
    quantisationOf[output] = *q;
  }

  QdqWriter writer(graph, analysis);
  for (ValueInfo& input : graph.inputs) {
    if (!quantized.count(input.name)) continue;
    if (integerOnly) {
      input.type.dtype = DType::I8;
      writer.dequantizeInput(input.name, quantisationOf.at(input.name));
    } else {
      writer.quantizeValue(input.name, input.name, quantisationOf.at(input.name), false, false);
    }
  }
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    Node node = graph.nodes[i];
    for (std::string& input : node.inputs)
      if (!input.empty()) input = writer.readName(input);
    if (roles[i] == Role::Weighted)
      writer.quantizeWeightsOf(node, outputChannelAxis(analysis, graph.nodes[i]),
                               quantisationOf.at(graph.nodes[i].inputs[0]).scale);
    if (isQuantizedRole(roles[i])) ++report.quantizedNodes;
    const std::string output = node.outputs[0];
    const bool graphOutput = graph.isGraphOutput(output);
    if (quantized.count(output) && graphOutput) node.outputs[0] = writer.fresh(output + "_float");
    const std::string source = node.outputs[0];
    writer.emit(std::move(node));
    if (quantized.count(output))
      writer.quantizeValue(output, source, quantisationOf.at(output), graphOutput, integerOnly);
  }
  if (integerOnly)
    for (ValueInfo& output : graph.outputs) output.type.dtype = DType::I8;

  graph.nodes = writer.take();
  graph.opset = std::max<int64_t>(graph.opset, 13);  // per-axis DequantizeLinear
  dropUnreadInitializers(graph);
  report.quantizedValues = static_cast<int64_t>(quantized.size());
  report.weightBytesAfter = initializerBytes(graph);
  Result<GraphAnalysis> check = analyzeGraph(graph);
  if (!check) return Error{"quantised graph does not analyse: " + check.error().message};
  return report;
}

Result<QuantizeReport> storeWeightsAsFloat16(Graph& graph) {
  QuantizeReport report;
  report.weightBytesBefore = initializerBytes(graph);
  std::set<std::string> used;
  for (const auto& [name, tensor] : graph.initializers) used.insert(name);
  for (const Node& node : graph.nodes) used.insert(node.outputs.begin(), node.outputs.end());
  std::vector<Node> casts;
  std::map<std::string, std::string> castOf;
  for (auto& [name, tensor] : graph.initializers) {
    if (tensor.dtype() != DType::F32 || tensor.numel() <= 1) continue;
    Tensor half = Tensor::zeros(DType::F16, tensor.shape());
    for (int64_t i = 0; i < tensor.numel(); ++i) half.data<uint16_t>()[i] = floatToHalf(tensor.data<float>()[i]);
    tensor = std::move(half);
    std::string restored = name + "_float";
    for (int n = 1; used.count(restored); ++n) restored = fmt::format("{}_float_{}", name, n);
    used.insert(restored);
    Node cast{restored + "_Cast", "Cast", "", {name}, {restored}, {}};
    cast.attributes.set("to", int64_t{1});  // FLOAT
    casts.push_back(std::move(cast));
    castOf[name] = restored;
  }
  for (Node& node : graph.nodes) {
    for (std::string& input : node.inputs) {
      auto it = castOf.find(input);
      if (it != castOf.end()) input = it->second;
    }
  }
  report.quantizedNodes = static_cast<int64_t>(casts.size());
  graph.nodes.insert(graph.nodes.begin(), std::make_move_iterator(casts.begin()), std::make_move_iterator(casts.end()));
  report.weightBytesAfter = initializerBytes(graph);
  Result<GraphAnalysis> check = analyzeGraph(graph);
  if (!check) return Error{"float16 graph does not analyse: " + check.error().message};
  return report;
}

}  // namespace cleave
