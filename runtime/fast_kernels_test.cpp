// The fast (XNNPACK, channels-last) kernels against the plain reference kernels, over sweeps of
// the shapes and attributes real networks use, one and two threads; and the session's layout
// plan: NHWC regions with conversions only at their edges, packed weights counted.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstring>
#include <optional>
#include <random>

#include "runtime/fast_kernels.h"
#include "runtime/ops/conv.h"
#include "runtime/ops/reference/conv.h"
#include "runtime/passes/optimize.h"
#include "runtime/passes/pass_test_util.h"
#include "runtime/session.h"
#include "runtime/xnnpack/conv_avx512.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

struct Run {
  std::vector<Tensor> outputs;
  int64_t nhwcNodes = 0;
  int64_t conversions = 0;
  int64_t kernelBytes = 0;
  int64_t workspaceBytes = 0;
  int64_t heldBytes() const { return kernelBytes - workspaceBytes; }
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
          (*session)->kernelBytes(), (*session)->workspaceBytes()};
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
// `winograd`: whether the case must take the Winograd kernel (the one that holds 16 floats per
// filter, where the others hold 9 or fewer); the two threads' result must then be bit-identical
// to one thread's.
bool checkConv(const ConvCase& c, uint32_t seed, std::optional<bool> winograd = std::nullopt) {
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
  std::vector<Tensor> oneThread;
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    Run fast = runSession(graph, feed, true, threads);
    CHECK(fast.nhwcNodes == 1);  // the XNNPACK path ran, not the portable one
    CHECK(relativeError(fast.outputs[0], expected) < 2e-5f);
    if (winograd) CHECK((fast.heldBytes() >= 16 * c.outChannels * c.inChannels * 4) == *winograd);
    if (threads == 1) oneThread = fast.outputs;
    else if (winograd.value_or(false))
      CHECK(std::memcmp(oneThread[0].data<float>(), fast.outputs[0].data<float>(), oneThread[0].bytes()) == 0);
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
      // MobileNet's RGB stem, 3x3 stride 2, with and without bias and activation (XNNPACK has a
      // direct kernel for 3-channel 3x3 stride-2 input on ARM).
      {1, 3, 32, 1, 224, 224, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, false, false, "", {}},
      {1, 3, 32, 1, 224, 224, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, "Clip", {0.0f, 6.0f}},
      {1, 3, 16, 1, 33, 31, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, false, false, "", {}},
      // Weights past 256 KB: split by output channels into operators that each fit in L2
      // (blocks of 128 and 112 channels here, the last one shorter).
      {1, 512, 300, 1, 5, 5, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, true, true, "Relu", {}},
      {1, 256, 120, 1, 9, 9, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, "Clip", {0.0f, 6.0f}},
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

TEST_CASE("depthwise convolutions match the reference at every width, channel count and edge") {
  if (skipWithoutFastKernels()) return;
  // Our depthwise kernel computes 8, 4 or 1 pixels of a row at once with the taps in registers.
  // 3x3 and 5x5 with stride 1 or 2 run groups across the whole row, the last moved back to
  // overlap the one before, and groups at an edge skip the columns outside; other sizes run
  // inner groups and edge pixels one at a time. Channels are covered with vectors of 16, 8 or 4
  // whose last one overlaps the one before. Widths from 1 to 30 hit every mix of those; channel
  // counts 4 to 88 every overlap; pads 0 to 3 every edge.
  std::mt19937 rng(7);
  auto pick = [&](std::vector<int64_t> options) {
    return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)];
  };
  uint32_t seed = 5000;
  for (int valid = 0; valid < 80;) {
    ConvCase c{};
    c.batch = pick({1, 1, 2});
    c.inChannels = c.outChannels = c.group = pick({4, 6, 8, 12, 16, 20, 24, 58, 88});
    c.height = pick({1, 3, 6, 11});
    c.width = pick({1, 2, 4, 5, 7, 9, 13, 14, 17, 30});
    c.kernel = {pick({3, 5, 7}), pick({3, 5, 7})};
    c.stride = {pick({1, 2}), pick({1, 2})};
    c.dilation = {1, 1};
    c.pads = {pick({0, 1, 2, 3}), pick({0, 1, 2, 3}), pick({0, 1, 2, 3}), pick({0, 1, 2, 3})};
    c.bias = pick({0, 1}) == 1;
    c.residual = false;
    c.activation = std::vector<std::string>{"", "Relu", "Clip", "HardSwish"}[static_cast<size_t>(pick({0, 1, 2, 3}))];
    c.activationParams = c.activation == "Clip" ? std::vector<float>{0.0f, 6.0f} : std::vector<float>{};
    if (checkConv(c, seed += 10)) ++valid;
  }
}

TEST_CASE("1x1 convolutions match the reference at every row and column tail") {
  if (skipWithoutFastKernels()) return;
  // On AVX-512 our kernel (conv_avx512) computes 12 pixels x 32 output channels at a time, or 24
  // x 16 for a last panel of 16 channels or fewer, from 32 channels each side: pixel counts 1 to
  // 30 give every row tail, channel counts 32 to 70 every column tail (a panel's second vector
  // empty, partial or full), with bias or not, a residual and activations the clamp carries or
  // not. Fewer channels take XNNPACK's kernel, checked here too.
  uint32_t seed = 7000;
  for (int64_t outChannels : {7, 32, 33, 47, 64, 70})
    for (int64_t inChannels : {3, 32, 45})
      for (auto [height, width] : {std::pair<int64_t, int64_t>{1, 1}, {3, 4}, {2, 7}, {5, 6}, {5, 5}}) {
        ConvCase c{};
        c.batch = width == 7 ? 2 : 1;
        c.inChannels = inChannels;
        c.outChannels = outChannels;
        c.group = 1;
        c.height = height;
        c.width = width;
        c.kernel = {1, 1};
        c.stride = {1, 1};
        c.dilation = {1, 1};
        c.pads = {0, 0, 0, 0};
        c.bias = outChannels % 2 == 1;
        c.residual = inChannels == 45;
        c.activation = std::vector<std::string>{"", "Relu", "HardSwish"}[static_cast<size_t>(outChannels % 3)];
        REQUIRE(checkConv(c, seed += 10));
      }
}

TEST_CASE("convolutions with few input channels match the reference at every edge and tail") {
  if (skipWithoutFastKernels()) return;
  // Below 32 input channels our AVX-512 kernel reads a kernel row's taps in place from the
  // image for pixels whose taps are all inside, leaves out kernel rows above or below the image,
  // and copies the taps of pixels at the left and right edges (zeros outside). Stems (7x7/2 and
  // 3x3/2 from 3 channels) and random shapes: widths that leave every row tail, pads up to 3,
  // images narrower than the kernel, residuals and activations.
  std::vector<ConvCase> cases = {
      {1, 3, 64, 1, 30, 30, {7, 7}, {2, 2}, {1, 1}, {3, 3, 3, 3}, false, false, "Relu", {}},
      {1, 3, 32, 1, 29, 31, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, "Clip", {0.0f, 6.0f}},
      {2, 16, 64, 1, 13, 13, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, true, "", {}},
      {1, 8, 24, 1, 3, 2, {5, 5}, {1, 1}, {1, 1}, {2, 2, 2, 2}, true, false, "", {}},
  };
  for (size_t i = 0; i < cases.size(); ++i) REQUIRE(checkConv(cases[i], 9000 + static_cast<uint32_t>(i)));
  std::mt19937 rng(11);
  auto pick = [&](std::vector<int64_t> options) {
    return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)];
  };
  uint32_t seed = 9100;
  for (int valid = 0; valid < 60;) {
    ConvCase c{};
    c.batch = pick({1, 1, 2});
    c.inChannels = pick({1, 3, 5, 8, 16, 31});
    c.outChannels = pick({1, 16, 17, 32, 33, 70});
    c.group = 1;
    c.height = pick({1, 3, 6, 11});
    c.width = pick({1, 2, 5, 12, 13, 25, 30});
    c.kernel = {pick({2, 3, 5, 7}), pick({1, 3, 5, 7})};
    c.stride = {pick({1, 2}), pick({1, 2, 3})};
    c.dilation = {1, 1};
    c.pads = {pick({0, 1, 3}), pick({0, 1, 2, 3}), pick({0, 1, 3}), pick({0, 1, 2, 3})};
    c.bias = pick({0, 1}) == 1;
    c.residual = pick({0, 0, 1}) == 1;
    c.activation = std::vector<std::string>{"", "Relu", "Clip", "Sigmoid"}[static_cast<size_t>(pick({0, 1, 2, 3}))];
    c.activationParams = c.activation == "Clip" ? std::vector<float>{0.0f, 6.0f} : std::vector<float>{};
    if (checkConv(c, seed += 10)) ++valid;
  }
}

#if defined(CLEAVE_HAVE_XNNPACK) && defined(__AVX512F__)
TEST_CASE("AVX-512 builds take our kernel for 1x1 layers from 32 channels and layers below 32 input channels") {
  auto covers = [](Shape x, Shape w, int64_t stride, int64_t pad) {
    Attributes attributes = attrs({{"strides", std::vector<int64_t>{stride, stride}},
                                   {"pads", std::vector<int64_t>{pad, pad, pad, pad}}});
    Result<ConvParams> params = parseConvParams(attributes, x, w);
    REQUIRE(params.ok());
    return xnn::convAvx512Covers(*params);
  };
  CHECK(covers({1, 3, 224, 224}, {64, 3, 7, 7}, 2, 3));  // resnet's stem
  CHECK(covers({1, 3, 224, 224}, {32, 3, 3, 3}, 2, 1));  // mobilenet's
  CHECK(covers({1, 8, 56, 56}, {32, 8, 3, 3}, 1, 1));
  CHECK(covers({1, 32, 14, 14}, {33, 32, 1, 1}, 1, 0));
  CHECK_FALSE(covers({1, 24, 14, 14}, {64, 24, 1, 1}, 1, 0));  // XNNPACK's 1x1 below 32 channels
  CHECK_FALSE(covers({1, 32, 56, 56}, {64, 32, 3, 3}, 1, 1));  // Winograd's or XNNPACK's
}
#endif

TEST_CASE("3x3 convolutions take Winograd F(2x2, 3x3) and match the reference at every edge") {
  if (skipWithoutFastKernels()) return;
  std::vector<ConvCase> cases = {
      // ResNet's blocks: same padding, even and odd sizes (a last tile half outside), a residual.
      {1, 64, 64, 1, 56, 56, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, false, "Relu", {}},
      {1, 32, 48, 1, 7, 7, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, true, "Relu", {}},
      {2, 16, 24, 1, 9, 6, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, false, false, "", {}},
      // No padding, asymmetric and wide padding, images smaller than a tile.
      {1, 16, 16, 1, 10, 13, {3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}, true, false, "Clip", {0.0f, 6.0f}},
      {1, 24, 17, 1, 8, 11, {3, 3}, {1, 1}, {1, 1}, {0, 2, 1, 0}, true, false, "Sigmoid", {}},
      {1, 16, 32, 1, 1, 1, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, false, "", {}},
      {1, 20, 16, 1, 2, 3, {3, 3}, {1, 1}, {1, 1}, {2, 2, 2, 2}, true, true, "HardSwish", {}},
  };
  uint32_t seed = 900;
  for (const ConvCase& c : cases) REQUIRE(checkConv(c, seed += 10, true));
  // What it does not cover goes to the other kernels (stride, dilation, groups, few channels):
  // ours below 32 input channels on AVX-512 (padded to 32 output channels, so 32 here), else XNNPACK's.
  REQUIRE(checkConv({1, 16, 32, 1, 9, 9, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true, false, "", {}}, seed += 10, false));
  REQUIRE(checkConv({1, 16, 16, 1, 4, 4, {3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}, true, false, "", {}}, seed += 10, false));
  REQUIRE(checkConv({1, 32, 32, 2, 9, 9, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, false, "", {}}, seed += 10, false));
  REQUIRE(checkConv({1, 8, 32, 1, 4, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true, false, "", {}}, seed += 10, false));

  std::mt19937 rng(7);
  auto pick = [&](std::vector<int64_t> options) {
    return options[std::uniform_int_distribution<size_t>(0, options.size() - 1)(rng)];
  };
  for (int valid = 0; valid < 30;) {
    ConvCase c{1, pick({16, 19, 32}), pick({16, 23, 40}), 1, pick({1, 4, 5, 12}), pick({2, 7, 14}),
               {3, 3}, {1, 1}, {1, 1}, {pick({0, 1, 2}), pick({0, 1}), pick({0, 1, 2}), pick({0, 1})},
               pick({0, 1}) == 1, pick({0, 1}) == 1, "", {}};
    c.batch = pick({1, 2});
    c.activation = std::vector<std::string>{"", "Relu", "Sigmoid"}[static_cast<size_t>(pick({0, 1, 2}))];
    if (checkConv(c, seed += 10, true)) ++valid;
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

TEST_CASE("channels-last Slice and Gather over channels match the portable kernels") {
  if (skipWithoutFastKernels()) return;
  // Each pick sits between two 1x1 convolutions, so it runs channels-last: a channel range
  // (strided copy), a shuffle (XNNPACK's channel shuffle), and other picks (repeats, reversed,
  // negative indices) by our per-pixel gather.
  const Shape x{2, 12, 5, 7};
  std::vector<std::vector<int64_t>> picks = {
      {3, 4, 5, 6},                            // a range
      {0, 6, 1, 7, 2, 8, 3, 9, 4, 10, 5, 11},  // a shuffle of two groups
      {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11},  // of three
      {11, 0, 0, -1, 5},                       // repeats and negatives
      {1, 3, 5, 7, 9, 11},                     // odd channels
  };
  uint32_t seed = 900;
  for (const std::vector<int64_t>& pick : picks) {
    CAPTURE(fmt::format("indices {}", fmt::join(pick, ",")));
    Graph graph = graphWithInput("x", x);
    const auto picked = static_cast<int64_t>(pick.size());
    graph.initializers["w1"] = randomTensor({12, 12, 1, 1}, seed++);
    graph.initializers["w2"] = randomTensor({3, picked, 1, 1}, seed++);
    graph.initializers["i"] = Tensor::fromVector<int64_t>({picked}, pick);
    addNode(graph, "Conv", {"x", "w1"}, {"h"});
    addNode(graph, "Gather", {"h", "i"}, {"g"}, attrs({{"axis", int64_t{1}}}));
    addNode(graph, "Conv", {"g", "w2"}, {"y"});
    graph.outputs.push_back({"y", {}});
    std::vector<Tensor> inputs = randomInputs(graph, seed++);
    Run portable = runSession(graph, inputs, false, 1);
    for (int threads : {1, 2}) {
      Run fast = runSession(graph, inputs, true, threads);
      CHECK(fast.nhwcNodes == 3);
      CHECK(fast.conversions == 2);
      CHECK(relativeError(fast.outputs[0], portable.outputs[0]) < 1e-5f);
    }
  }
  // Slices over channels (step 1) channels-last; one over height stays NCHW.
  struct SliceCase {
    int64_t start, end, axis;
    bool channelsLast;
  };
  for (const SliceCase& c : {SliceCase{0, 6, 1, true}, SliceCase{6, 12, 1, true}, SliceCase{-5, 100, -3, true},
                             SliceCase{1, 4, 2, false}}) {
    CAPTURE(fmt::format("slice [{}, {}) of axis {}", c.start, c.end, c.axis));
    Graph graph = graphWithInput("x", x);
    graph.initializers["w1"] = randomTensor({12, 12, 1, 1}, seed++);
    graph.initializers["starts"] = Tensor::fromVector<int64_t>({1}, {c.start});
    graph.initializers["ends"] = Tensor::fromVector<int64_t>({1}, {c.end});
    graph.initializers["axes"] = Tensor::fromVector<int64_t>({1}, {c.axis});
    addNode(graph, "Conv", {"x", "w1"}, {"h"});
    addNode(graph, "Slice", {"h", "starts", "ends", "axes"}, {"s"});
    addNode(graph, "Relu", {"s"}, {"y"});
    graph.outputs.push_back({"y", {}});
    std::vector<Tensor> inputs = randomInputs(graph, seed++);
    Run portable = runSession(graph, inputs, false, 1);
    Run fast = runSession(graph, inputs, true, 2);
    CHECK(fast.nhwcNodes == (c.channelsLast ? 3 : 1));
    CHECK(relativeError(fast.outputs[0], portable.outputs[0]) < 1e-5f);
  }
}

TEST_CASE("a ShuffleNet block stays channels-last once its channel shuffle is a Gather") {
  if (skipWithoutFastKernels()) return;
  // chunk -> branch (1x1, depthwise 3x3, 1x1) -> concat -> Reshape/Transpose/Reshape shuffle ->
  // 1x1: after optimizeGraph the shuffle is one Gather and the block converts layouts only at
  // its input and output.
  Graph graph = graphWithInput("x", {1, 16, 10, 10});
  graph.initializers["w0"] = randomTensor({16, 16, 1, 1}, 1);
  graph.initializers["w1"] = randomTensor({8, 8, 1, 1}, 2);
  graph.initializers["wd"] = randomTensor({8, 1, 3, 3}, 3);
  graph.initializers["w2"] = randomTensor({8, 8, 1, 1}, 4);
  graph.initializers["w3"] = randomTensor({16, 16, 1, 1}, 5);
  graph.initializers["zero"] = Tensor::fromVector<int64_t>({1}, {0});
  graph.initializers["half"] = Tensor::fromVector<int64_t>({1}, {8});
  graph.initializers["all"] = Tensor::fromVector<int64_t>({1}, {16});
  graph.initializers["channels"] = Tensor::fromVector<int64_t>({1}, {1});
  graph.initializers["to5d"] = Tensor::fromVector<int64_t>({5}, {1, 2, 8, 10, 10});
  graph.initializers["to4d"] = Tensor::fromVector<int64_t>({4}, {1, 16, 10, 10});
  addNode(graph, "Conv", {"x", "w0"}, {"h"});
  addNode(graph, "Slice", {"h", "zero", "half", "channels"}, {"a"});  // torch.chunk, as exported
  addNode(graph, "Slice", {"h", "half", "all", "channels"}, {"b"});
  addNode(graph, "Conv", {"b", "w1"}, {"b1"});
  addNode(graph, "Relu", {"b1"}, {"b2"});
  addNode(graph, "Conv", {"b2", "wd"}, {"b3"},
          attrs({{"group", int64_t{8}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  addNode(graph, "Conv", {"b3", "w2"}, {"b4"});
  addNode(graph, "Concat", {"a", "b4"}, {"c"}, attrs({{"axis", int64_t{1}}}));
  addNode(graph, "Reshape", {"c", "to5d"}, {"r"});
  addNode(graph, "Transpose", {"r"}, {"t"}, attrs({{"perm", std::vector<int64_t>{0, 2, 1, 3, 4}}}));
  addNode(graph, "Reshape", {"t", "to4d"}, {"shuffled"});
  addNode(graph, "Conv", {"shuffled", "w3"}, {"y"});
  graph.outputs.push_back({"y", {}});
  std::vector<Tensor> inputs = randomInputs(graph, 6);
  Run original = runSession(graph, inputs, false, 1);

  Graph optimized = graph;
  OptimizeReport report;
  REQUIRE(optimizeGraph(optimized, &report).ok());
  CHECK(report.channelShuffles == 1);
  CHECK(countOps(optimized, "Gather") == 1);
  CHECK(countOps(optimized, "Transpose") == 0);
  Run fast = runSession(optimized, inputs, true, 2);
  CHECK(fast.conversions == 2);
  CHECK(relativeError(fast.outputs[0], original.outputs[0]) < 1e-5f);
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

TEST_CASE("a threaded session computes the same bits with and without its pool") {
  if (skipWithoutFastKernels()) return;
  // While it measures whether its pool pays (pool_choice.h), a two-thread session runs some
  // steps on the pool and some on the calling thread alone; every run must give the bits one
  // thread gives. A Winograd 3x3, our depthwise kernel, an XNNPACK 1x1 and SiLU, large enough
  // (over 300K MACs) to run on the pool.
  Graph graph = graphWithInput("x", {1, 32, 40, 40});
  graph.initializers["w1"] = randomTensor({32, 32, 3, 3}, 1);
  graph.initializers["wd"] = randomTensor({32, 1, 5, 5}, 2);
  graph.initializers["w2"] = randomTensor({48, 32, 1, 1}, 3);
  Attributes same = attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  addNode(graph, "Conv", {"x", "w1"}, {"c1"}, same);
  addNode(graph, "Conv", {"c1", "wd"}, {"c2"}, attrs({{"group", int64_t{32}}, {"pads", std::vector<int64_t>{2, 2, 2, 2}}}));
  addNode(graph, "Conv", {"c2", "w2"}, {"c3"});
  addNode(graph, "Sigmoid", {"c3"}, {"s"});
  addNode(graph, "Mul", {"c3", "s"}, {"y"});
  graph.outputs.push_back({"y", {}});
  REQUIRE(optimizeGraph(graph).ok());
  std::vector<Tensor> inputs = randomInputs(graph, 4);
  const Tensor expected = runSession(graph, inputs, true, 1).outputs[0];

  SessionOptions options;
  options.threads = 2;
  Result<std::unique_ptr<Session>> session = Session::create(graph, options);
  REQUIRE(session.ok());
  CHECK((*session)->measuringThreads());
  int runs = 0;
  for (; runs < 40 && (runs < 3 || (*session)->measuringThreads()); ++runs) {
    Result<std::vector<Tensor>> out = (*session)->run(inputs);
    REQUIRE(out.ok());
    CHECK((*out)[0].identical(expected));
  }
  CHECK_FALSE((*session)->measuringThreads());
  CHECK(runs == PoolChoice::WARMUP_RUNS + 2 * PoolChoice::RUNS_EACH / (PoolChoice::BLOCK_RUNS - 1) * PoolChoice::BLOCK_RUNS);
}

TEST_CASE("packed weights and indirection buffers are counted as kernel memory") {
  if (skipWithoutFastKernels()) return;
  // A 3x3 convolution with stride 2, 32 -> 64 channels: XNNPACK packs the 73,728 bytes of
  // weights (and the bias) into its own blocked copy, and keeps an indirection buffer of 9
  // pointers per output pixel. Where the BLAS does the products the kernel keeps the weights
  // re-ordered and gathers patches into the workspace instead.
  Graph graph = graphWithInput("x", {1, 32, 20, 20});
  graph.initializers["w"] = randomTensor({64, 32, 3, 3}, 1);
  graph.initializers["b"] = randomTensor({64}, 2);
  addNode(graph, "Conv", {"x", "w", "b"}, {"y"},
          attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}, {"strides", std::vector<int64_t>{2, 2}}}));
  graph.outputs.push_back({"y", {}});
  const int64_t weightBytes = (64 * 32 * 9 + 64) * 4;
  const int64_t indirectionBytes = 10 * 10 * 9 * static_cast<int64_t>(sizeof(void*));
  std::vector<Tensor> inputs = randomInputs(graph, 3);
  Run fast = runSession(graph, inputs, true, 1);
  CAPTURE(fastGemmEngine());
  if (fastGemmEngine() == "XNNPACK") {
    CHECK(fast.workspaceBytes == 0);
    CHECK(fast.heldBytes() >= weightBytes + indirectionBytes);
    CHECK(fast.heldBytes() < 2 * (weightBytes + indirectionBytes) + 64 * 1024);
  } else {
    CHECK(fast.heldBytes() == weightBytes);
    CHECK(fast.workspaceBytes >= 10 * 10 * 9 * 32 * 4);  // patches of all 100 output pixels
    CHECK(fast.workspaceBytes <= 256 * 1024 + 9 * 32 * 4);  // at most one block of them
  }
}

TEST_CASE("a session lends its kernels one workspace, as large as the largest asks") {
  if (skipWithoutFastKernels()) return;
  // Two Winograd convolutions, 32 -> 64 -> 16 channels on 20x20 (100 tiles): the first needs
  // [100][16][32] transformed inputs and [100][16][64] products, the second [100][16][64] and
  // [100][16][16]. The workspace is the larger of the two, not their sum.
  Graph graph = graphWithInput("x", {1, 32, 20, 20});
  graph.initializers["w1"] = randomTensor({64, 32, 3, 3}, 1);
  graph.initializers["w2"] = randomTensor({16, 64, 3, 3}, 2);
  Attributes same = attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}});
  addNode(graph, "Conv", {"x", "w1"}, {"h"}, same);
  addNode(graph, "Conv", {"h", "w2"}, {"y"}, same);
  graph.outputs.push_back({"y", {}});
  const int64_t first = 100 * 16 * (32 + 64) * 4, second = 100 * 16 * (64 + 16) * 4;
  const int64_t transformedWeights = 16 * (64 * 32 + 16 * 64) * 4;  // U = G g G^T: 16 floats per 3x3 filter
  std::vector<Tensor> inputs = randomInputs(graph, 3);
  Run fast = runSession(graph, inputs, true, 1);
  CHECK(fast.workspaceBytes == std::max(first, second));
  CHECK(fast.kernelBytes >= transformedWeights + fast.workspaceBytes);
  CHECK(fast.kernelBytes < 2 * transformedWeights + fast.workspaceBytes + 64 * 1024);
  // Against the reference convolution, layer by layer. Both paths take Winograd here, whose
  // transforms lose about one more decimal digit than a direct sum (1.0-1.1e-4 measured on this
  // 576-term second layer, on either path).
  Attributes sameAttrs = same;
  Result<ConvParams> p1 = parseConvParams(sameAttrs, {1, 32, 20, 20}, {64, 32, 3, 3});
  Result<ConvParams> p2 = parseConvParams(sameAttrs, {1, 64, 20, 20}, {16, 64, 3, 3});
  REQUIRE((p1.ok() && p2.ok()));
  Tensor h = Tensor::zeros(DType::F32, p1->outputShape), expected = Tensor::zeros(DType::F32, p2->outputShape);
  reference::conv(*p1, inputs[0].data<float>(), graph.initializers["w1"].data<float>(), nullptr, nullptr, h.data<float>());
  reference::conv(*p2, h.data<float>(), graph.initializers["w2"].data<float>(), nullptr, nullptr, expected.data<float>());
  Run portable = runSession(graph, inputs, false, 1);
  CHECK(relativeError(fast.outputs[0], expected) < 5e-4f);
  CHECK(relativeError(portable.outputs[0], expected) < 5e-4f);
}
