// The fast (XNNPACK, channels-last) kernels against the plain reference kernels, over sweeps of
// the shapes and attributes real networks use, one and two threads; and the session's layout
// plan: NHWC regions with conversions only at their edges, packed weights counted.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <random>

#include "runtime/fast_kernels.h"
#include "runtime/ops/conv.h"
#include "runtime/ops/reference/conv.h"
#include "runtime/passes/pass_test_util.h"
#include "runtime/session.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

struct Run {
  std::vector<Tensor> outputs;
  int64_t nhwcNodes = 0;
  int64_t conversions = 0;
  int64_t kernelBytes = 0;
};

Run runSession(const Graph& graph, const std::vector<Tensor>& inputs, bool fast, int threads) {
  SessionOptions options;
  options.threads = threads;
  options.fastKernels = fast;
  Result<std::unique_ptr<Session>> session = Session::create(graph, options);
  REQUIRE_MESSAGE(session.ok(), (session.ok() ? "" : session.error().message));
  Result<std::vector<Tensor>> outputs = (*session)->run(inputs);
  REQUIRE_MESSAGE(outputs.ok(), (outputs.ok() ? "" : outputs.error().message));
  return {std::move(outputs).value(), (*session)->nhwcNodes(), (*session)->layoutConversions(),
          (*session)->kernelBytes()};
}

bool skipWithoutFastKernels() {
  if (fastKernelsAvailable()) return false;
  MESSAGE("skipped: ", fastKernelLibrary());
  return true;
}

struct ConvCase {
  int64_t batch, inChannels, outChannels, group, height, width;
  std::array<int64_t, 2> kernel, stride, dilation;
  std::array<int64_t, 4> pads;  // top, left, bottom, right (ONNX order)
  bool bias, residual;
  std::string activation;  // empty: plain Conv
  std::vector<float> activationParams;
};

std::string describe(const ConvCase& c) {
  return fmt::format("N{} C{}->{} g{} {}x{} k{}x{} s{}x{} d{}x{} pads {},{},{},{} bias {} residual {} act '{}'", c.batch,
                     c.inChannels, c.outChannels, c.group, c.height, c.width, c.kernel[0], c.kernel[1], c.stride[0],
                     c.stride[1], c.dilation[0], c.dilation[1], c.pads[0], c.pads[1], c.pads[2], c.pads[3], c.bias,
                     c.residual, c.activation);
}

// False (and nothing checked) when the attributes do not fit the input, as random draws may not.
bool checkConv(const ConvCase& c, uint32_t seed) {
  CAPTURE(describe(c));
  Graph graph = graphWithInput("x", {c.batch, c.inChannels, c.height, c.width});
  Tensor w = randomTensor({c.outChannels, c.inChannels / c.group, c.kernel[0], c.kernel[1]}, seed);
  Tensor b = randomTensor({c.outChannels}, seed + 1);
  graph.initializers["w"] = w;
  if (c.bias) graph.initializers["b"] = b;
  Attributes attributes = attrs({{"group", c.group},
                                 {"kernel_shape", std::vector<int64_t>{c.kernel[0], c.kernel[1]}},
                                 {"strides", std::vector<int64_t>{c.stride[0], c.stride[1]}},
                                 {"dilations", std::vector<int64_t>{c.dilation[0], c.dilation[1]}},
                                 {"pads", std::vector<int64_t>(c.pads.begin(), c.pads.end())}});
  bool fused = !c.activation.empty() || c.residual;
  if (fused) {
    if (!c.activation.empty()) attributes.set("activation", c.activation);
    if (!c.activationParams.empty()) attributes.set("activation_params", c.activationParams);
  }
  Result<ConvParams> params = parseConvParams(attributes, {c.batch, c.inChannels, c.height, c.width}, w.shape());
  if (!params) return false;
  std::vector<std::string> inputs{"x", "w", c.bias ? "b" : ""};
  Tensor z;
  if (c.residual) {
    graph.inputs.push_back({"z", {DType::F32, params->outputShape}});
    inputs.push_back("z");
    z = randomTensor(params->outputShape, seed + 2);
  }
  addNode(graph, fused ? "FusedConv" : "Conv", inputs, {"y"}, attributes, fused ? "com.microsoft" : "");
  graph.outputs.push_back({"y", {DType::F32, params->outputShape}});

  Result<Activation> activation = c.activation.empty() ? Result<Activation>(Activation{})
                                      : Activation::fromName(c.activation, c.activationParams);
  REQUIRE(activation.ok());
  params->activation = *activation;
  Tensor x = randomTensor({c.batch, c.inChannels, c.height, c.width}, seed + 3);
  Tensor expected = Tensor::zeros(DType::F32, params->outputShape);
  reference::conv(*params, x.data<float>(), w.data<float>(), c.bias ? b.data<float>() : nullptr,
                  c.residual ? z.data<float>() : nullptr, expected.data<float>());

  std::vector<Tensor> feed{x};
  if (c.residual) feed.push_back(z);
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    Run fast = runSession(graph, feed, true, threads);
    CHECK(fast.nhwcNodes == 1);  // the XNNPACK path ran, not the portable one
    CHECK(relativeError(fast.outputs[0], expected) < 2e-5f);
  }
  return true;
}

}  // namespace

TEST_CASE("channels-last convolutions match the reference: dense, grouped, depthwise, fused") {
  if (skipWithoutFastKernels()) return;
  std::vector<ConvCase> cases = {
      // ResNet and MobileNet shapes: 7x7/2 stem, 3x3 same, 1x1 projection, depthwise 3x3 and 5x5.
      {1, 3, 16, 1, 32, 32, {7, 7}, {2, 2}, {1, 1}, {3, 3, 3, 3}, true, false, "Relu", {}},
      {1, 16, 24, 1, 15, 17, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, false, "", {}},
      {2, 24, 40, 1, 9, 9, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, false, false, "", {}},
      {1, 32, 32, 32, 14, 14, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, false, "Clip", {0.0f, 6.0f}},
      {1, 32, 32, 32, 15, 15, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, "HardSwish", {}},
      {1, 24, 24, 24, 11, 11, {5, 5}, {2, 2}, {1, 1}, {2, 2, 2, 2}, true, false, "Sigmoid", {}},
      // Channel multiplier 2, grouped (RegNet, ShuffleNet), dilation, asymmetric pads, rectangles.
      {1, 8, 16, 8, 10, 10, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, false, "", {}},
      {1, 32, 48, 4, 12, 12, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, "Relu", {}},
      {1, 12, 20, 1, 13, 11, {3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}, false, false, "LeakyRelu", {0.1f}},
      {1, 6, 10, 1, 9, 12, {1, 3}, {1, 2}, {1, 1}, {0, 1, 1, 0}, true, false, "HardSigmoid", {0.2f, 0.5f}},
      // FusedConv with a residual: bias, residual, then the activation.
      {1, 16, 16, 1, 8, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true, "Relu", {}},
      {2, 8, 8, 1, 6, 6, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, true, true, "", {}},
  };
  uint32_t seed = 100;
  for (const ConvCase& c : cases) REQUIRE(checkConv(c, seed += 10));

  // And a seeded random sweep over the same space.
  std::mt19937 rng(42);
  auto pick = [&](std::vector<int64_t> options) {
    return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)];
  };
  for (int valid = 0; valid < 40;) {
    ConvCase c{};
    c.batch = pick({1, 1, 2});
    int64_t kind = pick({0, 1, 2});  // dense, depthwise, grouped
    c.group = kind == 0 ? 1 : kind == 1 ? pick({4, 8, 16}) : pick({2, 4});
    c.inChannels = kind == 1 ? c.group : c.group * pick({1, 3, 8});
    c.outChannels = c.group * pick({1, 2, 5});
    c.height = pick({5, 8, 13});
    c.width = pick({5, 7, 16});
    c.kernel = {pick({1, 3, 5}), pick({1, 3})};
    c.stride = {pick({1, 2}), pick({1, 2})};
    c.dilation = {pick({1, 1, 2}), 1};
    c.pads = {pick({0, 1, 2}), pick({0, 1}), pick({0, 1, 2}), pick({0, 1})};
    c.bias = pick({0, 1}) == 1;
    c.residual = pick({0, 0, 1}) == 1;
    c.activation = std::vector<std::string>{"", "Relu", "Sigmoid", "HardSwish"}[static_cast<size_t>(pick({0, 1, 2, 3}))];
    if (checkConv(c, seed += 10)) ++valid;
  }
}

TEST_CASE("channels-last pooling matches the reference: max, average, global, ceil mode") {
  if (skipWithoutFastKernels()) return;
  struct PoolCase {
    std::string op;
    std::vector<int64_t> kernel, strides, pads;
    int64_t ceilMode, countIncludePad;
  };
  std::vector<PoolCase> cases = {
      {"MaxPool", {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 0},   // ResNet's stem pool
      {"MaxPool", {3, 3}, {2, 2}, {0, 0, 0, 0}, 1, 0},   // SqueezeNet's and GoogLeNet's, ceil mode
      {"MaxPool", {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, 0},
      {"MaxPool", {3, 2}, {1, 2}, {1, 0, 0, 1}, 1, 0},
      {"AveragePool", {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, 0},  // DenseNet's transitions
      {"AveragePool", {3, 3}, {1, 1}, {1, 1, 1, 1}, 0, 0},
      {"AveragePool", {3, 3}, {2, 2}, {0, 0, 0, 0}, 0, 1},
      {"GlobalAveragePool", {}, {}, {}, 0, 0},
  };
  uint32_t seed = 7;
  for (const PoolCase& c : cases) {
    CAPTURE(c.op);
    CAPTURE(fmt::format("kernel {} strides {} pads {} ceil {} include_pad {}", fmt::join(c.kernel, "x"),
                        fmt::join(c.strides, "x"), fmt::join(c.pads, ","), c.ceilMode, c.countIncludePad));
    // A 1x1 convolution in front puts the pool's input in NHWC, as in a network.
    const Shape inShape{2, 6, 13, 14};
    Graph graph = graphWithInput("x", inShape);
    graph.initializers["w"] = randomTensor({6, 6, 1, 1}, seed++);
    addNode(graph, "Conv", {"x", "w"}, {"h"});
    Attributes a;
    if (c.op != "GlobalAveragePool") {
      a = attrs({{"kernel_shape", c.kernel}, {"strides", c.strides}, {"pads", c.pads}, {"ceil_mode", c.ceilMode}});
      if (c.op == "AveragePool") a.set("count_include_pad", c.countIncludePad);
    }
    addNode(graph, c.op, {"h"}, {"y"}, a);
    graph.outputs.push_back({"y", {}});  // the session takes the type from the analysis
    std::vector<Tensor> inputs{randomTensor(inShape, seed++)};
    // The portable pooling kernels are themselves checked against reference::pool (pool_test).
    Run portable = runSession(graph, inputs, false, 1);
    for (int threads : {1, 2}) {
      Run fast = runSession(graph, inputs, true, threads);
      CHECK(fast.nhwcNodes == 2);
      CHECK(relativeError(fast.outputs[0], portable.outputs[0]) < 1e-5f);
    }
  }
}

TEST_CASE("channels-last arithmetic and concatenation match the portable kernels") {
  if (skipWithoutFastKernels()) return;
  // Every operand shape networks feed to Add/Mul: same shape (residuals), [1,C,1,1] activations
  // (squeeze-excitation), per-channel and per-pixel constants, scalars.
  const Shape x{2, 8, 6, 5};
  struct Operand {
    Shape shape;
    bool constant;
  };
  std::vector<Operand> operands = {
      {{2, 8, 6, 5}, false}, {{2, 8, 1, 1}, false}, {{8, 1, 1}, true}, {{1, 8, 1, 1}, true},
      {{1, 1, 6, 5}, true},  {{6, 5}, true},        {{}, true},        {{2, 8, 6, 5}, true},
  };
  uint32_t seed = 300;
  for (std::string op : {"Add", "Sub", "Mul", "Div"}) {
    for (const Operand& other : operands) {
      for (bool swap : {false, true}) {
        CAPTURE(op);
        CAPTURE(fmt::format("other operand {} {}, swapped {}", shapeString(other.shape),
                            other.constant ? "constant" : "activation", swap));
        Graph graph = graphWithInput("x", x);
        // Positive weights and inputs keep h away from zero, so h as a divisor is well conditioned.
        graph.initializers["w"] = randomTensor({8, 8, 1, 1}, seed++, 0.5f, 2.0f);
        addNode(graph, "Conv", {"x", "w"}, {"h"});  // puts the activation operand in NHWC
        std::vector<Tensor> inputs{randomTensor(x, seed++, 0.5f, 2.0f)};
        std::string otherName = "o";
        if (other.constant) {
          // Kept away from zero so Div stays well conditioned.
          graph.initializers["o"] = randomTensor(other.shape, seed++, 0.5f, 2.0f);
        } else {
          graph.inputs.push_back({"o", {DType::F32, other.shape}});
          inputs.push_back(randomTensor(other.shape, seed++, 0.5f, 2.0f));
        }
        addNode(graph, op, swap ? std::vector<std::string>{otherName, "h"} : std::vector<std::string>{"h", otherName},
                {"y"});
        graph.outputs.push_back({"y", {}});
        Run portable = runSession(graph, inputs, false, 1);
        Run fast = runSession(graph, inputs, true, 2);
        CHECK(fast.nhwcNodes == 2);
        CHECK(relativeError(fast.outputs[0], portable.outputs[0]) < 1e-5f);
      }
    }
  }

  // Concat along channels of three NHWC activations of different widths.
  Graph graph = graphWithInput("x", {1, 4, 7, 9});
  for (int i = 0; i < 3; ++i) {
    std::string w = fmt::format("w{}", i);
    graph.initializers[w] = randomTensor({3 + i, 4, 1, 1}, seed++);
    addNode(graph, "Conv", {"x", w}, {fmt::format("h{}", i)});
  }
  addNode(graph, "Concat", {"h0", "h1", "h2"}, {"y"}, attrs({{"axis", int64_t{1}}}));
  graph.outputs.push_back({"y", {}});
  std::vector<Tensor> inputs{randomTensor({1, 4, 7, 9}, seed++)};
  Run portable = runSession(graph, inputs, false, 1);
  Run fast = runSession(graph, inputs, true, 1);
  CHECK(fast.nhwcNodes == 4);
  CHECK(fast.conversions == 2);  // x in, y out
  CHECK(relativeError(fast.outputs[0], portable.outputs[0]) < 1e-5f);
}

TEST_CASE("a session converts layouts only at the edges of a channels-last region") {
  if (skipWithoutFastKernels()) return;
  // conv -> relu -> conv (+ residual add) -> maxpool -> flatten -> gemm: one conversion into
  // NHWC at the input, one back before Flatten, which reads NCHW order.
  Graph graph = graphWithInput("x", {1, 3, 16, 16});
  graph.initializers["w1"] = randomTensor({8, 3, 3, 3}, 1);
  graph.initializers["w2"] = randomTensor({8, 8, 3, 3}, 2);
  graph.initializers["fc"] = randomTensor({10, 8 * 8 * 8}, 3);
  Attributes same = attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  addNode(graph, "Conv", {"x", "w1"}, {"c1"}, same);
  addNode(graph, "Relu", {"c1"}, {"r1"});
  addNode(graph, "Conv", {"r1", "w2"}, {"c2"}, same);
  addNode(graph, "Add", {"c2", "r1"}, {"s"});
  addNode(graph, "MaxPool", {"s"}, {"p"}, attrs({{"kernel_shape", std::vector<int64_t>{2, 2}},
                                                 {"strides", std::vector<int64_t>{2, 2}}}));
  addNode(graph, "Flatten", {"p"}, {"f"});
  addNode(graph, "Gemm", {"f", "fc"}, {"y"}, attrs({{"transB", int64_t{1}}}));
  graph.outputs.push_back({"y", {}});
  std::vector<Tensor> inputs = randomInputs(graph, 9);
  Run portable = runSession(graph, inputs, false, 1);
  CHECK(portable.nhwcNodes == 0);
  CHECK(portable.conversions == 0);
  Run fast = runSession(graph, inputs, true, 1);
  CHECK(fast.nhwcNodes == 5);  // both convs, relu, add, pool
  CHECK(fast.conversions == 2);
  CHECK(relativeError(fast.outputs[0], portable.outputs[0]) < 1e-5f);
}

TEST_CASE("packed weights and working buffers are counted as kernel memory") {
  if (skipWithoutFastKernels()) return;
  // A 3x3 convolution, 32 -> 64 channels: XNNPACK packs the 73,728 bytes of weights (and the
  // bias) into its own blocked copy, and a 3x3 kernel needs an indirection buffer at run time.
  Graph graph = graphWithInput("x", {1, 32, 20, 20});
  graph.initializers["w"] = randomTensor({64, 32, 3, 3}, 1);
  graph.initializers["b"] = randomTensor({64}, 2);
  addNode(graph, "Conv", {"x", "w", "b"}, {"y"}, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  graph.outputs.push_back({"y", {}});
  const int64_t weightBytes = (64 * 32 * 9 + 64) * 4;
  const int64_t indirectionBytes = 20 * 20 * 9 * static_cast<int64_t>(sizeof(void*));
  std::vector<Tensor> inputs = randomInputs(graph, 3);
  Run fast = runSession(graph, inputs, true, 1);
  CHECK(fast.kernelBytes >= weightBytes + indirectionBytes);
  CHECK(fast.kernelBytes < 2 * (weightBytes + indirectionBytes) + 64 * 1024);
}
