// Post-training quantisation: calibration against a sorted copy of the data, the QDQ rewrite's
// weights against quantisation done by hand, and the int8 kernels (lower_qdq.h) against the same
// QDQ graph run in float, which is what ONNX defines it to mean.
#include "runtime/quantize/quantize_graph.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "runtime/analysis.h"
#include "runtime/passes/optimize.h"
#include "runtime/passes/pass_test_util.h"
#include "runtime/quantize/calibration.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

// Conv+Relu, MaxPool, depthwise Conv+Relu, a residual Add+Relu, Concat, global pooling, Flatten
// and Gemm: every pattern the lowering knows, in one small network.
Graph smallNetwork() {
  Graph g = graphWithInput("x", {1, 3, 8, 8});
  g.initializers["w1"] = randomTensor({4, 3, 3, 3}, 1, -0.5f, 0.5f);
  g.initializers["b1"] = randomTensor({4}, 2, -0.2f, 0.2f);
  g.initializers["w2"] = randomTensor({4, 1, 3, 3}, 3, -0.6f, 0.6f);
  g.initializers["b2"] = randomTensor({4}, 4, -0.2f, 0.2f);
  g.initializers["w3"] = randomTensor({5, 8}, 5, -0.7f, 0.7f);
  g.initializers["b3"] = randomTensor({5}, 6, -0.1f, 0.1f);
  addNode(g, "Conv", {"x", "w1", "b1"}, {"c1"}, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  addNode(g, "Relu", {"c1"}, {"r1"});
  addNode(g, "MaxPool", {"r1"}, {"p1"},
          attrs({{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}}));
  addNode(g, "Conv", {"p1", "w2", "b2"}, {"c2"},
          attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"group", int64_t{4}}}));
  addNode(g, "Relu", {"c2"}, {"r2"});
  addNode(g, "Add", {"p1", "r2"}, {"sum"});
  addNode(g, "Relu", {"sum"}, {"r3"});
  addNode(g, "Concat", {"r3", "p1"}, {"cat"}, attrs({{"axis", int64_t{1}}}));
  addNode(g, "GlobalAveragePool", {"cat"}, {"gap"});
  addNode(g, "Flatten", {"gap"}, {"flat"});
  addNode(g, "Gemm", {"flat", "w3", "b3"}, {"y"}, attrs({{"transB", int64_t{1}}}));
  g.outputs.push_back({"y", {DType::F32, {1, 5}}});
  return g;
}

CalibrationSamples randomSamples(const Graph& graph, int count, uint32_t seed) {
  CalibrationSamples samples;
  for (int i = 0; i < count; ++i) samples.push_back(randomInputs(graph, seed + static_cast<uint32_t>(i)));
  return samples;
}

Graph quantized(Graph graph, QuantizeMode mode, const CalibrationSamples& samples) {
  Result<std::map<std::string, ValueRange>> ranges = calibrateRanges(graph, samples);
  REQUIRE_MESSAGE(ranges.ok(), (ranges.ok() ? "" : ranges.error().message));
  Result<QuantizeReport> report = quantizeGraph(graph, *ranges, mode);
  REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message));
  return graph;
}

const Node* producerNode(const Graph& graph, const std::string& value) {
  std::optional<size_t> index = graph.producerOf(value);
  return index ? &graph.nodes[*index] : nullptr;
}

// The scale and zero point of the QuantizeLinear writing graph output 0's int8 value.
std::pair<float, int32_t> outputQuantisation(const Graph& qdq) {
  const Node* dq = producerNode(qdq, qdq.outputs[0].name);
  REQUIRE(dq != nullptr);
  REQUIRE(dq->opType == "DequantizeLinear");
  return {qdq.initializers.at(dq->inputs[1]).data<float>()[0], qdq.initializers.at(dq->inputs[2]).data<int8_t>()[0]};
}

}  // namespace

TEST_CASE("calibration finds each value's extremes, and percentiles within one bin of a sorted copy") {
  Graph g = graphWithInput("x", {1, 4096});
  addNode(g, "Relu", {"x"}, {"y"});
  g.outputs.push_back({"y", {DType::F32, {1, 4096}}});
  CalibrationSamples samples = randomSamples(g, 3, 11);
  samples[1][0].data<float>()[17] = 40.0f;  // one outlier the percentile must ignore
  std::vector<float> all;
  for (const auto& sample : samples)
    all.insert(all.end(), sample[0].values<float>().begin(), sample[0].values<float>().end());
  std::sort(all.begin(), all.end());

  Result<std::map<std::string, ValueRange>> minMax = calibrateRanges(g, samples);
  REQUIRE(minMax.ok());
  CHECK(minMax->at("x").min == all.front());
  CHECK(minMax->at("x").max == all.back());
  CHECK(minMax->at("y").min == 0.0f);
  CHECK(minMax->at("y").max == 40.0f);

  CalibrationOptions options;
  options.method = CalibrationMethod::Percentile;
  options.percentile = 99.0;
  Result<std::map<std::string, ValueRange>> clipped = calibrateRanges(g, samples, options);
  REQUIRE(clipped.ok());
  const float bin = (all.back() - all.front()) / 2048.0f;
  const auto at = [&](double share) { return all[static_cast<size_t>(share * static_cast<double>(all.size() - 1))]; };
  CHECK(std::fabs(clipped->at("x").min - at(0.01)) <= bin);
  CHECK(std::fabs(clipped->at("x").max - at(0.99)) <= bin);
  CHECK(clipped->at("y").min == 0.0f);  // the ReLU's floor is kept exactly
  CHECK(clipped->at("y").max < 3.0f);

  options.percentile = 30.0;
  CHECK_FALSE(calibrateRanges(g, samples, options).ok());
  CHECK_FALSE(calibrateRanges(g, {}).ok());
}

TEST_CASE("weights become per-channel symmetric int8 and biases int32 at scale s_x * s_w") {
  const Graph original = smallNetwork();
  Graph qdq = quantized(original, QuantizeMode::Int8, randomSamples(original, 16, 100));
  const Node* conv = nullptr;
  for (const Node& node : qdq.nodes)
    if (node.opType == "Conv" && !conv) conv = &node;
  REQUIRE(conv != nullptr);
  const Node* weightsDq = producerNode(qdq, conv->inputs[1]);
  const Node* biasDq = producerNode(qdq, conv->inputs[2]);
  const Node* inputDq = producerNode(qdq, conv->inputs[0]);
  REQUIRE((weightsDq && biasDq && inputDq));
  const Tensor& q = qdq.initializers.at(weightsDq->inputs[0]);
  const Tensor& scales = qdq.initializers.at(weightsDq->inputs[1]);
  const Tensor& zeros = qdq.initializers.at(weightsDq->inputs[2]);
  const Tensor& w = original.initializers.at("w1");
  REQUIRE(q.dtype() == DType::I8);
  REQUIRE(scales.numel() == 4);
  const float inputScale = qdq.initializers.at(inputDq->inputs[1]).data<float>()[0];
  for (int64_t c = 0; c < 4; ++c) {
    float largest = 0.0f;
    for (int64_t i = 0; i < 27; ++i) largest = std::max(largest, std::fabs(w.data<float>()[c * 27 + i]));
    CHECK(scales.data<float>()[c] == doctest::Approx(largest / 127.0f).epsilon(1e-6));
    CHECK(zeros.data<int8_t>()[c] == 0);
    for (int64_t i = 0; i < 27; ++i) {
      const int8_t v = q.data<int8_t>()[c * 27 + i];
      CHECK(v >= -127);
      CHECK(std::fabs(static_cast<float>(v) * scales.data<float>()[c] - w.data<float>()[c * 27 + i]) <=
            scales.data<float>()[c] * 0.5f + 1e-7f);
    }
    const Tensor& bias = qdq.initializers.at(biasDq->inputs[0]);
    const float biasScale = qdq.initializers.at(biasDq->inputs[1]).data<float>()[c];
    CHECK(bias.dtype() == DType::I32);
    CHECK(biasScale == doctest::Approx(inputScale * scales.data<float>()[c]).epsilon(1e-6));
    CHECK(std::fabs(static_cast<float>(bias.data<int32_t>()[c]) * biasScale -
                    original.initializers.at("b1").data<float>()[c]) <= biasScale * 0.5f + 1e-7f);
  }
}

// The network cut after `value`: its nodes up to the one producing it, `value` the only output.
Graph prefixOf(const Graph& network, const std::string& value) {
  Graph prefix = network;
  prefix.nodes.resize(*network.producerOf(value) + 1);
  prefix.outputs = {{value, {}}};
  Result<GraphAnalysis> analysis = analyzeGraph(prefix);
  REQUIRE(analysis.ok());
  prefix.outputs = {{value, analysis->typeOf(value)}};
  return prefix;
}

struct StepAgreement {
  int64_t elements = 0, oneStep = 0, twoSteps = 0;
};

// Runs the QDQ graph in float (ONNX's definition) and lowered to the int8 kernels on the same
// inputs, and counts output elements that differ by one or by more steps of the output scale.
StepAgreement int8AgainstQdq(const Graph& original, uint32_t seed) {
  const Graph qdq = quantized(original, QuantizeMode::Int8, randomSamples(original, 32, 200));
  Graph lowered = qdq;
  REQUIRE(optimizeGraph(lowered).ok());
  CHECK(countOps(lowered, "QuantizeLinear") == 1);    // the input
  CHECK(countOps(lowered, "DequantizeLinear") == 1);  // the output
  const float scale = outputQuantisation(qdq).first;
  StepAgreement agreement;
  for (uint32_t s = seed; s < seed + 32; ++s) {
    std::vector<Tensor> inputs = randomInputs(original, s);
    const Tensor reference = runGraph(qdq, inputs)[0];
    const Tensor int8 = runGraph(lowered, inputs)[0];
    for (int64_t i = 0; i < reference.numel(); ++i) {
      const float steps = std::fabs(reference.data<float>()[i] - int8.data<float>()[i]) / scale;
      agreement.oneStep += steps > 0.5f;
      agreement.twoSteps += steps > 1.5f;
      ++agreement.elements;
    }
  }
  return agreement;
}

TEST_CASE("int8 kernels agree with the QDQ graph run in float: one step per layer, two over the network") {
  const Graph network = smallNetwork();
  Graph lowered = quantized(network, QuantizeMode::Int8, randomSamples(network, 32, 200));
  REQUIRE(optimizeGraph(lowered).ok());
  CHECK(countOps(lowered, "QLinearConv") == 2);
  CHECK(countOps(lowered, "QLinearAdd") == 1);
  CHECK(countOps(lowered, "QLinearConcat") == 1);
  CHECK(countOps(lowered, "QLinearGlobalAveragePool") == 1);
  CHECK(countOps(lowered, "QGemm") == 1);
  CHECK(countOps(lowered, "Conv") + countOps(lowered, "Relu") + countOps(lowered, "Add") == 0);

  // Requantisation rounds differently (fixed point and halves away from zero, against float and
  // halves to even), so a layer may differ by one step; a difference then travels on, and an
  // average of 16 elements turns a one-step difference in its sum into a rounding tie, so the
  // network's output may differ by two.
  for (std::string value : {"r1", "p1", "r2", "sum", "r3", "cat", "gap", "flat"}) {
    StepAgreement a = int8AgainstQdq(prefixOf(network, value), 300);
    INFO(value << ": " << a.oneStep << " of " << a.elements << " elements one step apart");
    CHECK(a.twoSteps == 0);
    CHECK(a.oneStep * 10 < a.elements);
  }
  StepAgreement whole = int8AgainstQdq(network, 300);
  MESSAGE("network output: " << whole.oneStep << " of " << whole.elements << " elements one step apart, "
                             << whole.twoSteps << " two");
  CHECK(whole.twoSteps * 20 < whole.elements);

  // And against float32 itself: quantisation error of a few output steps, not a broken layer.
  const Graph qdq = quantized(network, QuantizeMode::Int8, randomSamples(network, 32, 200));
  const float scale = outputQuantisation(qdq).first;
  for (uint32_t seed = 300; seed < 316; ++seed) {
    std::vector<Tensor> inputs = randomInputs(network, seed);
    CHECK(maxAbsDiff(runGraph(lowered, inputs)[0], runGraph(network, inputs)[0]) < 12.0f * scale);
  }
}

TEST_CASE("integer-only takes and gives int8; ops without an int8 kernel are refused or kept in float") {
  const Graph original = smallNetwork();
  const CalibrationSamples samples = randomSamples(original, 8, 400);
  Graph integerOnly = quantized(original, QuantizeMode::IntegerOnly, samples);
  CHECK(integerOnly.inputs[0].type.dtype == DType::I8);
  Graph lowered = integerOnly;
  REQUIRE(optimizeGraph(lowered).ok());
  CHECK(countOps(lowered, "QuantizeLinear") + countOps(lowered, "DequantizeLinear") == 0);
  Tensor input = Tensor::zeros(DType::I8, {1, 3, 8, 8});
  for (int64_t i = 0; i < input.numel(); ++i) input.data<int8_t>()[i] = static_cast<int8_t>(i * 37 % 256 - 128);
  std::vector<Tensor> out = runGraph(lowered, {input});
  CHECK(out[0].dtype() == DType::I8);
  CHECK(runGraph(integerOnly, {input})[0].dtype() == DType::I8);

  Graph withSigmoid = original;
  withSigmoid.nodes[6] = Node{"gate", "Sigmoid", "", {"sum"}, {"r3"}, {}};  // the residual's Relu
  Result<std::map<std::string, ValueRange>> ranges = calibrateRanges(withSigmoid, samples);
  REQUIRE(ranges.ok());
  for (QuantizeMode mode : {QuantizeMode::Int8, QuantizeMode::IntegerOnly}) {
    Graph g = withSigmoid;
    Result<QuantizeReport> refused = quantizeGraph(g, *ranges, mode);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message.find("node 'gate' (Sigmoid) has no int8 kernel") != std::string::npos);
  }
  Graph fallback = withSigmoid;
  Result<QuantizeReport> report = quantizeGraph(fallback, *ranges, QuantizeMode::Int8FloatFallback);
  REQUIRE(report.ok());
  CHECK(report->floatNodes == std::vector<std::string>{"node 'gate' (Sigmoid)"});
  Graph fallbackLowered = fallback;
  REQUIRE(optimizeGraph(fallbackLowered).ok());
  CHECK(countOps(fallbackLowered, "Sigmoid") == 1);
  CHECK(countOps(fallbackLowered, "QLinearConv") == 2);
  CHECK(maxOutputDiff(fallback, fallbackLowered, 500) < 0.05f);
}

TEST_CASE("a quantised model is not quantised again") {
  const Graph original = smallNetwork();
  const CalibrationSamples samples = randomSamples(original, 4, 600);
  Graph qdq = quantized(original, QuantizeMode::Int8, samples);
  Result<std::map<std::string, ValueRange>> ranges = calibrateRanges(qdq, samples);
  REQUIRE(ranges.ok());
  Result<QuantizeReport> again = quantizeGraph(qdq, *ranges, QuantizeMode::Int8);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().message.find("quantised already") != std::string::npos);
}

TEST_CASE("float16 stores weights in half the bytes and reads them back as float") {
  const Graph original = smallNetwork();
  Graph half = original;
  Result<QuantizeReport> report = storeWeightsAsFloat16(half);
  REQUIRE(report.ok());
  CHECK(report->weightBytesAfter * 2 == report->weightBytesBefore);
  CHECK(half.initializers.at("w1").dtype() == DType::F16);
  CHECK(countOps(half, "Cast") == 6);
  CHECK(maxOutputDiff(original, half, 700) < 2e-3f);
}
