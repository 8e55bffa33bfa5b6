// Winograd F(2x2, 3x3) conv: the kernel against the reference over odd/even sizes, asymmetric
// pads, block edges, bias, residual and activations; Conv's path selection with a constant W;
// and a skipped benchmark against im2col on resnet18's layers.
//
// Tolerance: |got - want| <= 1e-4 * (1 + |want|). The input and output transforms add and
// subtract up to 9 terms before and after the GEMM, so the rounding is a few ulps of the
// partial sums rather than of the result; for unit-range inputs and Cin <= 64 the worst seen is
// ~1e-6 relative.
#include "runtime/ops/winograd_conv.h"

#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "runtime/ops/ops.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/reference/conv.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

constexpr float TOLERANCE = 1e-4f;

// Worst |got - want| / (1 + |want|); infinity for NaN (an unwritten output).
float relativeError(const float* got, const float* want, int64_t count) {
  float worst = 0.0f;
  for (int64_t i = 0; i < count; ++i) {
    float e = std::fabs(got[i] - want[i]) / (1.0f + std::fabs(want[i]));
    if (std::isnan(e)) return INFINITY;
    worst = std::max(worst, e);
  }
  return worst;
}

Attributes convAttributes(std::vector<int64_t> pads) {
  Attributes a;
  a.set("pads", std::move(pads));
  return a;
}

struct Pads {
  int64_t top, left, bottom, right;
};

}  // namespace

TEST_CASE("winograd conv matches the reference over sizes, pads, blocks, bias, residual and activations") {
  std::vector<Pads> padList = {{1, 1, 1, 1}, {0, 0, 0, 0}, {2, 2, 2, 2}, {0, 1, 2, 0}, {2, 0, 1, 2}, {1, 2, 0, 1}};
  Result<Activation> relu = Activation::fromName("Relu", {});
  Result<Activation> clip = Activation::fromName("Clip", {-0.5f, 0.5f});
  Result<Activation> leaky = Activation::fromName("LeakyRelu", {0.1f});
  REQUIRE(relu.ok());
  REQUIRE(clip.ok());
  REQUIRE(leaky.ok());
  std::vector<Activation> activations = {Activation{}, *relu, *clip, *leaky};
  struct Size {
    int64_t h, w;
  };
  std::vector<Size> sizes = {{1, 1}, {1, 2}, {2, 1}, {2, 2}, {3, 3}, {4, 5}, {5, 4}, {7, 7},
                             {8, 8}, {9, 6}, {6, 11}, {13, 13}, {14, 14}, {15, 16}, {28, 28}, {56, 56}};
  uint32_t seed = 70000;
  int checked = 0;
  for (const Size& size : sizes) {
    for (size_t variant = 0; variant < 3; ++variant) {
      const Pads& pad = padList[(seed / 3) % padList.size()];
      int64_t cin = std::array<int64_t, 4>{16, 24, 32, 64}[seed % 4];
      int64_t cout = std::array<int64_t, 3>{16, 40, 64}[(seed / 4) % 3];
      if (size.h * size.w > 400) cin = cout = 16;  // keeps the reference quick
      int64_t batch = seed % 5 == 0 ? 2 : 1;
      Shape xs{batch, cin, size.h, size.w}, ws{cout, cin, 3, 3};
      Result<ConvParams> p = parseConvParams(convAttributes({pad.top, pad.left, pad.bottom, pad.right}), xs, ws);
      seed += 7;
      if (!p) continue;  // too small for the kernel with these pads
      REQUIRE(WinogradConv::supports(*p));
      p->activation = activations[seed % activations.size()];
      bool bias = seed % 3 != 0, residual = seed % 2 == 0;
      Tensor x = randomTensor(xs, seed), w = randomTensor(ws, seed + 1), b = randomTensor({cout}, seed + 2);
      Tensor z = randomTensor(p->outputShape, seed + 3);
      const float* bp = bias ? b.data<float>() : nullptr;
      const float* zp = residual ? z.data<float>() : nullptr;
      Tensor want = Tensor::zeros(DType::F32, p->outputShape);
      reference::conv(*p, x.data<float>(), w.data<float>(), bp, zp, want.data<float>());
      // Blocks of 1 and 2 tile rows put block edges everywhere; 0 is the production choice.
      for (int64_t rows : {int64_t{0}, int64_t{1}, int64_t{2}}) {
        WinogradConv wino(*p, w.data<float>(), WinogradOptions{rows});
        Tensor got = Tensor::zeros(DType::F32, p->outputShape);
        std::fill(got.data<float>(), got.data<float>() + got.numel(), NAN);  // every output must be written
        wino.run(x.data<float>(), bp, zp, got.data<float>(), Workspace(wino.workspaceBytes(1)).context());
        CHECK_MESSAGE(relativeError(got.data<float>(), want.data<float>(), got.numel()) <= TOLERANCE,
                      fmt::format("x {} w {} pads {},{},{},{} rows/block {} act {} bias {} z {}", shapeString(xs),
                                  shapeString(ws), pad.top, pad.left, pad.bottom, pad.right, wino.tileRowsPerBlock(),
                                  p->activation.name(), bias, residual));
      }
      ++checked;
    }
  }
  CHECK(checked > 35);
}

TEST_CASE("conv takes the winograd path for constant 3x3 weights and still matches the reference") {
  ThreadPool pool(2);
  struct Case {
    Shape x, w;
    std::vector<int64_t> pads;
    bool fused;
  };
  std::vector<Case> cases = {
      {{1, 32, 20, 17}, {48, 32, 3, 3}, {1, 1, 1, 1}, false},
      {{2, 16, 15, 22}, {16, 16, 3, 3}, {0, 2, 1, 0}, true},
      {{1, 64, 14, 14}, {64, 64, 3, 3}, {1, 1, 1, 1}, true},
  };
  uint32_t seed = 80000;
  for (const Case& c : cases) {
    Result<ConvParams> p = parseConvParams(convAttributes(c.pads), c.x, c.w);
    REQUIRE(p.ok());
    CHECK(WinogradConv::preferred(*p));
    Node node = makeNode(c.fused ? "FusedConv" : "Conv", c.fused ? 4 : 3, 1, convAttributes(c.pads));
    std::vector<Tensor> inputs = {randomTensor(c.x, seed), randomTensor(c.w, seed + 1), randomTensor({c.w[0]}, seed + 2)};
    if (c.fused) {
      node.domain = "com.microsoft";
      node.attributes.set("activation", std::string("Relu"));
      node.attributes.set("activation_params", std::vector<float>{});
      inputs.push_back(randomTensor(p->outputShape, seed + 3));
      Result<Activation> relu = Activation::fromName("Relu", {});
      REQUIRE(relu.ok());
      p->activation = *relu;
    }
    Tensor want = Tensor::zeros(DType::F32, p->outputShape);
    reference::conv(*p, inputs[0].data<float>(), inputs[1].data<float>(), inputs[2].data<float>(),
                    c.fused ? inputs[3].data<float>() : nullptr, want.data<float>());
    for (const RunContext& run : {RunContext{}, RunContext{&pool}}) {
      Result<std::vector<Tensor>> got = runNode(node, inputs, {1}, 13, run);  // W constant: Winograd
      REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
      CHECK(relativeError((*got)[0].data<float>(), want.data<float>(), want.numel()) <= TOLERANCE);
    }
    seed += 10;
  }
}

TEST_CASE("winograd conv is chosen only where it was measured faster") {
  auto params = [](Shape x, Shape w, std::vector<int64_t> strides = {1, 1}, int64_t group = 1) {
    Attributes a = convAttributes({1, 1, 1, 1});
    a.set("strides", std::move(strides));
    a.set("group", group);
    Result<ConvParams> p = parseConvParams(a, x, w);
    REQUIRE(p.ok());
    return *p;
  };
  CHECK(WinogradConv::preferred(params({1, 64, 56, 56}, {64, 64, 3, 3})));
  CHECK(WinogradConv::preferred(params({1, 128, 28, 28}, {128, 128, 3, 3})));
  CHECK(WinogradConv::preferred(params({1, 256, 14, 14}, {256, 256, 3, 3})));
  CHECK(WinogradConv::preferred(params({1, 256, 7, 7}, {256, 256, 3, 3})));
  CHECK(WinogradConv::preferred(params({1, 512, 10, 10}, {512, 512, 3, 3})));
  CHECK_FALSE(WinogradConv::preferred(params({1, 512, 7, 7}, {512, 512, 3, 3})));  // few tiles, 16 MB of U
  CHECK_FALSE(WinogradConv::supports(params({1, 64, 56, 56}, {128, 64, 3, 3}, {2, 2})));  // strided
  CHECK_FALSE(WinogradConv::supports(params({1, 8, 56, 56}, {64, 8, 3, 3})));             // few channels
  CHECK_FALSE(WinogradConv::supports(params({1, 32, 56, 56}, {32, 16, 3, 3}, {1, 1}, 2)));  // grouped
}

// Winograd against im2col + GEMM on resnet18's stride-1 3x3 layers (and a few other shapes);
// skipped in normal runs. Run with winograd_conv_test -tc='*benchmark*' --no-skip. The figures
// behind WinogradConv::preferred are noted in winograd_conv.cpp.
TEST_CASE("winograd conv benchmark against im2col" * doctest::skip()) {
  struct Layer {
    const char* name;
    Shape x, w;
  };
  std::vector<Layer> layers = {
      {"resnet layer1 64@56", {1, 64, 56, 56}, {64, 64, 3, 3}},   {"resnet layer2 128@28", {1, 128, 28, 28}, {128, 128, 3, 3}},
      {"resnet layer3 256@14", {1, 256, 14, 14}, {256, 256, 3, 3}}, {"resnet layer4 512@7", {1, 512, 7, 7}, {512, 512, 3, 3}},
      {"64@14", {1, 64, 14, 14}, {64, 64, 3, 3}},                  {"64@7", {1, 64, 7, 7}, {64, 64, 3, 3}},
      {"256@7", {1, 256, 7, 7}, {256, 256, 3, 3}},                 {"256@9", {1, 256, 9, 9}, {256, 256, 3, 3}},                  {"128@7", {1, 128, 7, 7}, {128, 128, 3, 3}},
      {"256@12", {1, 256, 12, 12}, {256, 256, 3, 3}},              {"512@10", {1, 512, 10, 10}, {512, 512, 3, 3}},
      {"32@112", {1, 32, 112, 112}, {32, 32, 3, 3}},
  };
  auto best = [](const std::function<void()>& fn) {
    fn();
    double bestSeconds = INFINITY, total = 0.0;
    for (int rep = 0; rep < 1000 && total < 0.5; ++rep) {
      auto start = std::chrono::steady_clock::now();
      fn();
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      bestSeconds = std::min(bestSeconds, seconds);
      total += seconds;
    }
    return bestSeconds * 1e3;
  };
  for (const Layer& layer : layers) {
    Attributes a = convAttributes({1, 1, 1, 1});
    Node node = makeNode("Conv", 3, 1, a);
    std::vector<Tensor> inputs = {randomTensor(layer.x, 1), randomTensor(layer.w, 2), randomTensor({layer.w[0]}, 3)};
    std::vector<TensorType> types = {inputs[0].type(), inputs[1].type(), inputs[2].type()};
    std::vector<const Tensor*> noConstants(3, nullptr);
    Result<PreparedNode> im2col = prepareConv(NodeContext{node, types, noConstants});  // W unknown: im2col
    REQUIRE(im2col.ok());
    Result<ConvParams> p = parseConvParams(a, layer.x, layer.w);
    REQUIRE(p.ok());
    WinogradConv wino(*p, inputs[1].data<float>());
    std::vector<Tensor> out = {Tensor::zeros(im2col->outputTypes[0])};
    Workspace workspace(std::max(im2col->kernel->workspaceBytes(1), wino.workspaceBytes(1)));
    RunContext run = workspace.context();
    double im2colMs = best([&] { im2col->kernel->run(inputs, out, run); });
    double winoMs = best([&] { wino.run(inputs[0].data<float>(), inputs[2].data<float>(), nullptr, out[0].data<float>(), run); });
    std::string sweep;
    if (std::getenv("CLEAVE_BENCH_SWEEP")) {  // block sizes other than the chosen one
      for (int64_t rows : {1, 2, 3, 4, 6, 8, 14, 28}) {
        if (rows > (layer.x[2] + 1) / 2) break;
        WinogradConv forced(*p, inputs[1].data<float>(), WinogradOptions{rows});
        Workspace forcedSpace(forced.workspaceBytes(1));
        double ms = best([&] {
          forced.run(inputs[0].data<float>(), inputs[2].data<float>(), nullptr, out[0].data<float>(), forcedSpace.context());
        });
        sweep += fmt::format(" {}:{:.3f}", rows, ms);
      }
    }
    MESSAGE(fmt::format("{:22} im2col {:7.3f} ms  winograd {:7.3f} ms ({} tile rows/block)  preferred {}{}", layer.name,
                        im2colMs, winoMs, wino.tileRowsPerBlock(), WinogradConv::preferred(*p), sweep));
  }
}
