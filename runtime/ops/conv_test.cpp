// Conv / FusedConv: the reference against ONNX's and PyTorch's expected outputs, every fast path
// (pointwise GEMM, im2col GEMM, depthwise direct) against the reference over many seeded random
// configurations, and bad models rejected with errors.
#include "runtime/ops/conv.h"
#include "runtime/ops/depthwise_conv.h"

#include <chrono>
#include <cmath>
#include <cstdlib>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "runtime/ops/onnx_testdata_util.h"
#include "runtime/ops/ops.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/reference/conv.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

#if defined(__AVX512F__) && defined(__AVX512VL__)
constexpr bool DEPTHWISE_DIRECT_BUILD = true;  // the condition depthwise_conv.cpp compiles the direct kernel under
#else
constexpr bool DEPTHWISE_DIRECT_BUILD = false;
#endif

namespace {

// Runs the reference on a node's inputs (X, W, [B], [Z]).
Tensor runReference(const Node& node, const std::vector<Tensor>& inputs) {
  Result<ConvParams> p = parseConvParams(node.attributes, inputs[0].shape(), inputs[1].shape());
  REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
  if (node.domain == "com.microsoft") {
    Result<std::string> name = node.attributes.getString("activation", "");
    Result<std::vector<float>> params = node.attributes.getFloats("activation_params", {});
    REQUIRE(name.ok());
    REQUIRE(params.ok());
    Result<Activation> activation = Activation::fromName(*name, *params);
    REQUIRE(activation.ok());
    p->activation = *activation;
  }
  Tensor y = Tensor::zeros(DType::F32, p->outputShape);
  auto ptr = [&](size_t i) { return inputs.size() > i && !inputs[i].empty() ? inputs[i].data<float>() : nullptr; };
  reference::conv(*p, ptr(0), ptr(1), ptr(2), ptr(3), y.data<float>());
  return y;
}

// PyTorch-converted cases keep their weights as initializers (and list them as graph inputs),
// which the node-test loader does not expect.
Result<OnnxNodeCase> loadPytorchCase(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path("/usr/share/libonnx-testdata/data/pytorch-converted") / name;
  Result<std::string> bytes = readFileBytes(dir / "model.onnx");
  if (!bytes) return bytes.error();
  onnx::ModelProto model;
  if (!model.ParseFromString(*bytes) || model.graph().node_size() != 1) return Error{"bad model " + name};
  OnnxNodeCase c;
  const onnx::NodeProto& proto = model.graph().node(0);
  c.node.name = name;
  c.node.opType = proto.op_type();
  c.node.inputs.assign(proto.input().begin(), proto.input().end());
  c.node.outputs.assign(proto.output().begin(), proto.output().end());
  for (const onnx::AttributeProto& a : proto.attribute()) {
    if (a.type() == onnx::AttributeProto::INT) c.node.attributes.set(a.name(), a.i());
    if (a.type() == onnx::AttributeProto::INTS)
      c.node.attributes.set(a.name(), std::vector<int64_t>(a.ints().begin(), a.ints().end()));
  }
  std::map<std::string, Tensor> values;
  for (const onnx::TensorProto& init : model.graph().initializer()) {
    Result<Tensor> t = tensorFromProto(init);
    if (!t) return t.error();
    values[init.name()] = *t;
  }
  int file = 0;
  for (const onnx::ValueInfoProto& input : model.graph().input()) {
    if (values.count(input.name())) continue;
    Result<Tensor> t = loadTensorFile(dir / "test_data_set_0" / fmt::format("input_{}.pb", file++));
    if (!t) return t.error();
    values[input.name()] = *t;
  }
  for (const std::string& in : c.node.inputs) c.inputs.push_back(in.empty() ? Tensor{} : values[in]);
  Result<Tensor> out = loadTensorFile(dir / "test_data_set_0" / "output_0.pb");
  if (!out) return out.error();
  c.expected.push_back(*out);
  return c;
}

void checkAgainstExpected(const OnnxNodeCase& c) {
  Tensor ref = runReference(c.node, c.inputs);
  CHECK_MESSAGE(relativeError(ref, c.expected[0]) < 1e-5f, c.node.name, " reference");
  Result<std::vector<Tensor>> fast = runNode(c.node, c.inputs, {}, c.opset);
  REQUIRE_MESSAGE(fast.ok(), (fast.ok() ? "" : fast.error().message));
  CHECK_MESSAGE(relativeError((*fast)[0], c.expected[0]) < 1e-4f, c.node.name, " fast");
}

struct RandomCase {
  Shape x, w;
  Attributes attributes;
  bool bias = true;
  bool fused = false;
  std::string activation;
  std::vector<float> activationParams;
  bool residual = false;
};

// Fast path against the reference for one case; returns false when the configuration is not a
// valid convolution (too small for its kernel), which the generators below skip.
bool checkRandomCase(const RandomCase& rc, uint32_t seed, const RunContext& run = {}) {
  Result<ConvParams> p = parseConvParams(rc.attributes, rc.x, rc.w);
  if (!p) return false;
  Node node = makeNode(rc.fused ? "FusedConv" : "Conv", rc.residual ? 4 : (rc.bias ? 3 : 2), 1, rc.attributes);
  std::vector<Tensor> inputs = {randomTensor(rc.x, seed), randomTensor(rc.w, seed + 1)};
  if (rc.bias || rc.residual) inputs.push_back(rc.bias ? randomTensor({rc.w[0]}, seed + 2) : Tensor{});
  if (rc.residual) inputs.push_back(randomTensor(p->outputShape, seed + 3));
  if (rc.fused) {
    node.domain = "com.microsoft";
    node.attributes.set("activation", rc.activation);
    node.attributes.set("activation_params", rc.activationParams);
  }
  Tensor want = runReference(node, inputs);
  Result<std::vector<Tensor>> got = runNode(node, inputs, {}, 13, run);
  REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
  std::string what = fmt::format("x {} w {} attrs group={} out {}", shapeString(rc.x), shapeString(rc.w), p->group,
                                 shapeString(p->outputShape));
  for (const auto& [name, value] : rc.attributes.all())
    if (const auto* ints = std::get_if<std::vector<int64_t>>(&value)) what += fmt::format(" {}={}", name, shapeString(*ints));
  CHECK_MESSAGE(relativeError((*got)[0], want) < 1e-4f, what);
  return true;
}

RandomCase makeCase(Shape x, Shape w, Attributes attributes) {
  RandomCase rc;
  rc.x = std::move(x);
  rc.w = std::move(w);
  rc.attributes = std::move(attributes);
  return rc;
}

Attributes convAttributes(int64_t group, std::vector<int64_t> strides, std::vector<int64_t> pads,
                          std::vector<int64_t> dilations) {
  Attributes a;
  a.set("group", group);
  a.set("strides", std::move(strides));
  a.set("pads", std::move(pads));
  a.set("dilations", std::move(dilations));
  return a;
}

}  // namespace

TEST_CASE("conv reference and fast paths match ONNX node tests") {
  for (const char* name : {"test_basic_conv_with_padding", "test_basic_conv_without_padding", "test_conv_with_autopad_same",
                           "test_conv_with_strides_and_asymmetric_padding", "test_conv_with_strides_no_padding",
                           "test_conv_with_strides_padding"}) {
    CAPTURE(name);
    Result<OnnxNodeCase> c = loadOnnxNodeCase(name);
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    checkAgainstExpected(*c);
  }
}

TEST_CASE("conv reference and fast paths match PyTorch-converted tests") {
  for (const char* name :
       {"test_Conv1d", "test_Conv1d_dilated", "test_Conv1d_groups", "test_Conv1d_pad1", "test_Conv1d_pad1size1",
        "test_Conv1d_pad2", "test_Conv1d_pad2size1", "test_Conv1d_stride", "test_Conv2d", "test_Conv2d_depthwise",
        "test_Conv2d_depthwise_padded", "test_Conv2d_depthwise_strided", "test_Conv2d_depthwise_with_multiplier",
        "test_Conv2d_dilated", "test_Conv2d_groups", "test_Conv2d_groups_thnn", "test_Conv2d_no_bias",
        "test_Conv2d_padding", "test_Conv2d_strided", "test_Conv3d", "test_Conv3d_dilated", "test_Conv3d_dilated_strided",
        "test_Conv3d_groups", "test_Conv3d_no_bias", "test_Conv3d_stride", "test_Conv3d_stride_padding"}) {
    CAPTURE(name);
    Result<OnnxNodeCase> c = loadPytorchCase(name);
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    checkAgainstExpected(*c);
  }
}

TEST_CASE("conv reference on a hand-computed case") {
  // 1x1x3x3 input 1..9, 2x2 kernel of ones, pad 1 on the left/top only, stride 2.
  Result<ConvParams> p = parseConvParams(convAttributes(1, {2, 2}, {1, 1, 0, 0}, {1, 1}), {1, 1, 3, 3}, {1, 1, 2, 2});
  REQUIRE(p.ok());
  CHECK(p->outputShape == Shape{1, 1, 2, 2});
  std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w = {1, 1, 1, 1}, y(4);
  float bias = 0.5f;
  reference::conv(*p, x.data(), w.data(), &bias, nullptr, y.data());
  CHECK(y == std::vector<float>{1.5f, 5.5f, 11.5f, 28.5f});
}

TEST_CASE("conv 2-D fast paths match the reference over strides, pads, dilations, kernels and groups") {
  uint32_t seed = 100;
  int checked = 0;
  for (int64_t kernel : {1, 3, 5, 7}) {
    for (int64_t stride : {1, 2}) {
      for (int64_t pad : {0, 1, 2}) {
        for (int64_t dilation : {1, 2}) {
          for (int groupKind = 0; groupKind < 4; ++groupKind) {
            // 0: dense, 1: two groups, 2: depthwise, 3: depthwise with channel multiplier 2.
            int64_t cin = groupKind >= 2 ? 6 : 4;
            int64_t group = groupKind == 0 ? 1 : (groupKind == 1 ? 2 : cin);
            int64_t cout = groupKind == 3 ? 2 * cin : (groupKind == 2 ? cin : 6);
            RandomCase rc;
            rc.x = {seed % 3 == 0 ? 2 : 1, cin, 11, 13};
            rc.w = {cout, cin / group, kernel, kernel};
            rc.attributes = convAttributes(group, {stride, stride}, {pad, pad + (kernel > 1 ? 1 : 0), pad, pad},
                                           {dilation, dilation});
            rc.bias = seed % 2 == 0;
            checked += checkRandomCase(rc, seed) ? 1 : 0;
            seed += 10;
          }
        }
      }
    }
  }
  CHECK(checked > 150);
}

TEST_CASE("conv auto_pad modes match the reference") {
  uint32_t seed = 5000;
  for (const char* autoPad : {"SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"}) {
    for (int64_t kernel : {1, 2, 3, 4}) {
      for (int64_t stride : {1, 2, 3}) {
        for (int64_t group : {1, 4}) {
          RandomCase rc;
          rc.x = {1, 4, 9, 10};
          rc.w = {group == 4 ? 4 : 5, 4 / group, kernel, kernel + 1};
          rc.attributes.set("auto_pad", std::string(autoPad));
          rc.attributes.set("strides", std::vector<int64_t>{stride, stride});
          rc.attributes.set("group", group);
          rc.attributes.set("kernel_shape", std::vector<int64_t>{kernel, kernel + 1});
          CAPTURE(autoPad);
          CHECK(checkRandomCase(rc, seed));
          seed += 7;
        }
      }
    }
  }
  // SAME keeps ceil(in / stride) outputs and puts the odd padding at the end (upper) or start.
  Attributes a;
  a.set("auto_pad", std::string("SAME_LOWER"));
  a.set("strides", std::vector<int64_t>{2, 2});
  Result<ConvParams> p = parseConvParams(a, {1, 1, 7, 8}, {1, 1, 4, 4});
  REQUIRE(p.ok());
  CHECK(p->outputShape == Shape{1, 1, 4, 4});
  CHECK(p->padsBegin == std::vector<int64_t>{2, 1});
  CHECK(p->padsEnd == std::vector<int64_t>{1, 1});
}

TEST_CASE("conv 1-D and 3-D match the reference") {
  uint32_t seed = 9000;
  for (int64_t kernel : {1, 2, 3, 5}) {
    for (int64_t stride : {1, 2}) {
      for (int64_t group : {1, 2, 6}) {
        for (int64_t dilation : {1, 2}) {
          RandomCase oneD;
          oneD.x = {2, 6, 17};
          oneD.w = {group == 6 ? 12 : 4, 6 / group, kernel};
          oneD.attributes = convAttributes(group, {stride}, {1, kernel > 2 ? 2 : 0}, {dilation});
          checkRandomCase(oneD, seed++);
          RandomCase threeD;
          threeD.x = {1, 6, 5, 7, 6};
          threeD.w = {group == 6 ? 6 : 4, 6 / group, std::min<int64_t>(kernel, 3), kernel, 2};
          threeD.attributes = convAttributes(group, {stride, 1, stride}, {1, 0, 1, 0, 1, 1}, {1, dilation, 1});
          threeD.bias = seed % 2 == 0;
          checkRandomCase(threeD, seed++);
        }
      }
    }
  }
}

TEST_CASE("conv larger shapes exercise chunked im2col, pointwise and threads") {
  ThreadPool pool(2);
  RunContext threaded{&pool};
  std::vector<RandomCase> cases;
  // 3x3 with enough columns to split into several im2col chunks.
  cases.push_back(makeCase({1, 16, 40, 37}, {24, 16, 3, 3}, convAttributes(1, {1, 1}, {1, 1, 1, 1}, {1, 1})));
  // Pointwise, grouped pointwise, strided 1x1 (resnet downsample).
  cases.push_back(makeCase({2, 32, 20, 19}, {40, 32, 1, 1}, convAttributes(1, {1, 1}, {0, 0, 0, 0}, {1, 1})));
  cases.push_back(makeCase({1, 32, 20, 19}, {16, 8, 1, 1}, convAttributes(4, {1, 1}, {0, 0, 0, 0}, {1, 1})));
  cases.push_back(makeCase({1, 32, 21, 19}, {16, 32, 1, 1}, convAttributes(1, {2, 2}, {0, 0, 0, 0}, {1, 1})));
  // resnet18's stem shape on a smaller image and mobilenet-like depthwise layers.
  cases.push_back(makeCase({1, 3, 64, 64}, {16, 3, 7, 7}, convAttributes(1, {2, 2}, {3, 3, 3, 3}, {1, 1})));
  cases.push_back(makeCase({1, 32, 33, 35}, {32, 1, 3, 3}, convAttributes(32, {1, 1}, {1, 1, 1, 1}, {1, 1})));
  cases.push_back(makeCase({1, 32, 33, 35}, {32, 1, 3, 3}, convAttributes(32, {2, 2}, {1, 1, 1, 1}, {1, 1})));
  cases.push_back(makeCase({2, 16, 30, 30}, {32, 1, 5, 5}, convAttributes(16, {2, 2}, {2, 2, 2, 2}, {1, 1})));
  uint32_t seed = 20000;
  for (const RandomCase& rc : cases) {
    CHECK(checkRandomCase(rc, seed));
    CHECK(checkRandomCase(rc, seed + 1, threaded));
    seed += 10;
  }
}

TEST_CASE("depthwise direct 3x3 kernel matches the reference at both vector widths and on the generic path") {
  // Widths around the 8- and 16-lane block edges, heights around the row-pass splits (8 rows at
  // most per pass), pads that put the zero row and the masked loads on every border.
  struct Pads {
    int64_t top, left, bottom, right;
  };
  std::vector<Pads> padList = {{0, 0, 0, 0}, {1, 1, 1, 1}, {0, 0, 1, 1}, {1, 1, 0, 0}, {2, 0, 1, 2}, {1, 2, 2, 0}};
  Result<Activation> clip = Activation::fromName("Clip", {-0.5f, 0.5f});
  Result<Activation> relu = Activation::fromName("Relu", {});
  Result<Activation> hardSwish = Activation::fromName("HardSwish", {});
  REQUIRE(clip.ok());
  REQUIRE(relu.ok());
  REQUIRE(hardSwish.ok());
  std::vector<Activation> activations = {Activation{}, *clip, *relu, *hardSwish};
  uint32_t seed = 40000;
  int checked = 0;
  for (int64_t width : {1, 2, 5, 7, 8, 9, 15, 16, 17, 31, 33, 56}) {
    for (int64_t height : {1, 3, 7, 8, 9, 14, 17}) {
      for (int64_t stride : {1, 2}) {
        const Pads& pad = padList[seed % padList.size()];
        int64_t multiplier = seed % 5 == 0 ? 2 : 1, channels = 3, batch = seed % 7 == 0 ? 2 : 1;
        Shape xs{batch, channels, height, width}, ws{channels * multiplier, 1, 3, 3};
        Result<ConvParams> p = parseConvParams(
            convAttributes(channels, {stride, stride}, {pad.top, pad.left, pad.bottom, pad.right}, {1, 1}), xs, ws);
        seed += 3;
        if (!p) continue;  // too small for the kernel with these pads
        CHECK(DepthwiseConv::supportsDirect(*p) == DEPTHWISE_DIRECT_BUILD);
        p->activation = activations[seed % activations.size()];
        bool residual = seed % 2 == 0, bias = seed % 3 != 0;
        Tensor x = randomTensor(xs, seed), w = randomTensor(ws, seed + 1), b = randomTensor({ws[0]}, seed + 2);
        Tensor z = randomTensor(p->outputShape, seed + 3);
        const float* bp = bias ? b.data<float>() : nullptr;
        const float* zp = residual ? z.data<float>() : nullptr;
        Tensor want = Tensor::zeros(DType::F32, p->outputShape);
        reference::conv(*p, x.data<float>(), w.data<float>(), bp, zp, want.data<float>());
        for (DepthwiseOptions options : {DepthwiseOptions{8, true}, DepthwiseOptions{16, true}, DepthwiseOptions{0, false}}) {
          DepthwiseConv dw(*p, options);
          CHECK(dw.direct() == (options.allowDirect && DEPTHWISE_DIRECT_BUILD));
          // NaN-filled output: every element must be written.
          Tensor got = Tensor::zeros(DType::F32, p->outputShape);
          std::fill(got.data<float>(), got.data<float>() + got.numel(), NAN);
          dw.run(x.data<float>(), w.data<float>(), bp, zp, got.data<float>(), Workspace(dw.workspaceBytes(1)).context());
          CHECK_MESSAGE(relativeError(got, want) < 1e-5f,
                        fmt::format("x {} stride {} pads {},{},{},{} multiplier {} lanes {} act {} z {} bias {}",
                                    shapeString(xs), stride, pad.top, pad.left, pad.bottom, pad.right, multiplier,
                                    dw.lanes(), p->activation.name(), residual, bias));
        }
        ++checked;
      }
    }
  }
  CHECK(checked > 100);
}

TEST_CASE("FusedConv applies bias, residual and activation in one pass on every path") {
  struct Act {
    const char* name;
    std::vector<float> params;
  };
  std::vector<Act> activations = {{"Relu", {}},        {"LeakyRelu", {0.1f}}, {"Clip", {0.0f, 6.0f}},
                                  {"Sigmoid", {}},     {"HardSigmoid", {0.2f, 0.5f}}, {"HardSwish", {}}};
  std::vector<RandomCase> shapes = {
      makeCase({1, 8, 9, 11}, {8, 8, 1, 1}, convAttributes(1, {1, 1}, {0, 0, 0, 0}, {1, 1})),     // pointwise
      makeCase({1, 8, 9, 11}, {6, 8, 3, 3}, convAttributes(1, {1, 1}, {1, 1, 1, 1}, {1, 1})),     // im2col
      makeCase({1, 8, 9, 11}, {8, 1, 3, 3}, convAttributes(8, {2, 2}, {1, 1, 1, 1}, {1, 1})),     // depthwise
      makeCase({1, 4, 9, 11}, {8, 1, 3, 3}, convAttributes(4, {1, 1}, {1, 1, 1, 1}, {1, 1}))};    // multiplier
  uint32_t seed = 30000;
  for (const Act& act : activations) {
    for (RandomCase rc : shapes) {
      for (bool residual : {false, true}) {
        rc.fused = true;
        rc.activation = act.name;
        rc.activationParams = act.params;
        rc.residual = residual;
        rc.bias = seed % 3 != 0;
        CAPTURE(act.name);
        CHECK(checkRandomCase(rc, seed));
        seed += 5;
      }
    }
  }
}

TEST_CASE("conv reports MACs and op class") {
  auto prepare = [](const Node& node, std::vector<TensorType> types) {
    std::vector<const Tensor*> constants(types.size(), nullptr);
    return prepareConv(NodeContext{node, types, constants});
  };
  Node dense = makeNode("Conv", 2, 1, convAttributes(1, {1, 1}, {1, 1, 1, 1}, {1, 1}));
  Result<PreparedNode> p = prepare(dense, {{DType::F32, {1, 8, 10, 10}}, {DType::F32, {16, 8, 3, 3}}});
  REQUIRE(p.ok());
  CHECK(p->macs == 1 * 16 * 100 * 8 * 9);
  CHECK(p->opClass == OpClass::Conv);
  Node dw = makeNode("Conv", 2, 1, convAttributes(8, {2, 2}, {1, 1, 1, 1}, {1, 1}));
  p = prepare(dw, {{DType::F32, {1, 8, 10, 10}}, {DType::F32, {16, 1, 3, 3}}});
  REQUIRE(p.ok());
  CHECK(p->macs == 16 * 25 * 9);
  CHECK(p->opClass == OpClass::Depthwise);
}

TEST_CASE("conv rejects bad models with errors") {
  auto fails = [](Node node, std::vector<TensorType> types, const char* fragment) {
    std::vector<const Tensor*> constants(types.size(), nullptr);
    if (node.inputs.size() < types.size()) node.inputs.resize(types.size(), "in");
    Result<PreparedNode> p = prepareConv(NodeContext{node, types, constants});
    REQUIRE_FALSE(p.ok());
    CHECK_MESSAGE(p.error().message.find(fragment) != std::string::npos, p.error().message);
  };
  TensorType x{DType::F32, {1, 4, 8, 8}};
  Node conv = makeNode("Conv", 2);
  fails(conv, {x, {DType::F32, {4, 4, 3}}}, "rank");
  fails(conv, {{DType::F32, {1, 4}}, {DType::F32, {4, 4}}}, "rank");
  fails(conv, {x, {DType::F32, {4, 3, 3, 3}}}, "input channels");
  Attributes group3;
  group3.set("group", int64_t{3});
  fails(makeNode("Conv", 2, 1, group3), {x, {DType::F32, {3, 1, 3, 3}}}, "does not divide");
  Attributes group2;
  group2.set("group", int64_t{2});
  fails(makeNode("Conv", 2, 1, group2), {x, {DType::F32, {3, 2, 3, 3}}}, "does not divide output");
  Attributes badPad;
  badPad.set("auto_pad", std::string("SAME"));
  fails(makeNode("Conv", 2, 1, badPad), {x, {DType::F32, {4, 4, 3, 3}}}, "auto_pad");
  Attributes wrongType;
  wrongType.set("auto_pad", int64_t{1});
  CHECK_FALSE(prepareConv(NodeContext{makeNode("Conv", 2, 1, wrongType),
                                      std::vector<TensorType>{x, {DType::F32, {4, 4, 3, 3}}},
                                      std::vector<const Tensor*>{nullptr, nullptr}})
                  .ok());
  Attributes kernelShape;
  kernelShape.set("kernel_shape", std::vector<int64_t>{5, 5});
  fails(makeNode("Conv", 2, 1, kernelShape), {x, {DType::F32, {4, 4, 3, 3}}}, "kernel_shape");
  Attributes strides;
  strides.set("strides", std::vector<int64_t>{1});
  fails(makeNode("Conv", 2, 1, strides), {x, {DType::F32, {4, 4, 3, 3}}}, "strides");
  Attributes zeroStride;
  zeroStride.set("strides", std::vector<int64_t>{0, 1});
  fails(makeNode("Conv", 2, 1, zeroStride), {x, {DType::F32, {4, 4, 3, 3}}}, "strides");
  Attributes negativePad;
  negativePad.set("pads", std::vector<int64_t>{-1, 0, 0, 0});
  fails(makeNode("Conv", 2, 1, negativePad), {x, {DType::F32, {4, 4, 3, 3}}}, "pads");
  fails(conv, {x, {DType::F32, {4, 4, 9, 3}}}, "kernel extent");
  fails(makeNode("Conv", 3), {x, {DType::F32, {4, 4, 3, 3}}, {DType::F32, {5}}}, "bias");
  fails(conv, {{DType::I64, {1, 4, 8, 8}}, {DType::F32, {4, 4, 3, 3}}}, "type");
  fails(makeNode("Conv", 4), {x, {DType::F32, {4, 4, 3, 3}}, {DType::F32, {4}}, {DType::F32, {1, 4, 6, 6}}},
        "inputs");
  Node fused = makeNode("FusedConv", 4);
  fused.domain = "com.microsoft";
  fails(fused, {x, {DType::F32, {4, 4, 3, 3}}, {DType::F32, {4}}, {DType::F32, {1, 4, 8, 8}}}, "residual");
  fused.attributes.set("activation", std::string("Tanh"));
  fails(fused, {x, {DType::F32, {4, 4, 3, 3}}, {DType::F32, {4}}, {DType::F32, {1, 4, 6, 6}}}, "activation");
  fused.attributes.set("activation", std::string("Clip"));
  fused.attributes.set("activation_params", std::vector<float>{1.0f});
  fails(fused, {x, {DType::F32, {4, 4, 3, 3}}, {DType::F32, {4}}, {DType::F32, {1, 4, 6, 6}}}, "parameters");
}

// Timing of the paths on real model layers; skipped in normal runs. Run with
// conv_test -tc='*benchmark*' --no-skip. See the figures noted in conv.cpp.
TEST_CASE("conv benchmark on resnet18 and mobilenet_v2 layers" * doctest::skip()) {
  struct Layer {
    const char* name;
    Shape x, w;
    int64_t group, stride, pad;
  };
  std::vector<Layer> layers = {
      {"resnet conv1 7x7/2", {1, 3, 224, 224}, {64, 3, 7, 7}, 1, 2, 3},
      {"resnet layer1 3x3", {1, 64, 56, 56}, {64, 64, 3, 3}, 1, 1, 1},
      {"resnet layer2 3x3/2", {1, 64, 56, 56}, {128, 64, 3, 3}, 1, 2, 1},
      {"resnet layer2 3x3", {1, 128, 28, 28}, {128, 128, 3, 3}, 1, 1, 1},
      {"resnet layer2 1x1/2", {1, 64, 56, 56}, {128, 64, 1, 1}, 1, 2, 0},
      {"resnet layer3 3x3", {1, 256, 14, 14}, {256, 256, 3, 3}, 1, 1, 1},
      {"resnet layer4 3x3", {1, 512, 7, 7}, {512, 512, 3, 3}, 1, 1, 1},
      {"mobilenet 1x1 expand", {1, 24, 56, 56}, {144, 24, 1, 1}, 1, 1, 0},
      {"mobilenet 1x1 project", {1, 144, 28, 28}, {32, 144, 1, 1}, 1, 1, 0},
      {"mobilenet dw 3x3 112", {1, 32, 112, 112}, {32, 1, 3, 3}, 32, 1, 1},
      {"mobilenet dw 3x3/2 112", {1, 96, 112, 112}, {96, 1, 3, 3}, 96, 2, 1},
      {"mobilenet dw 3x3 56", {1, 144, 56, 56}, {144, 1, 3, 3}, 144, 1, 1},
      {"mobilenet dw 3x3 14", {1, 384, 14, 14}, {384, 1, 3, 3}, 384, 1, 1},
      {"mobilenet dw 3x3 7", {1, 960, 7, 7}, {960, 1, 3, 3}, 960, 1, 1},
  };
  const char* filter = std::getenv("CLEAVE_BENCH_FILTER");
  for (const Layer& layer : layers) {
    if (filter && std::string(layer.name).find(filter) == std::string::npos) continue;
    Node node = makeNode("Conv", 3, 1,
                         convAttributes(layer.group, {layer.stride, layer.stride},
                                        {layer.pad, layer.pad, layer.pad, layer.pad}, {1, 1}));
    std::vector<Tensor> inputs = {randomTensor(layer.x, 1), randomTensor(layer.w, 2), randomTensor({layer.w[0]}, 3)};
    std::vector<TensorType> types = {inputs[0].type(), inputs[1].type(), inputs[2].type()};
    std::vector<const Tensor*> constants(3, nullptr);
    Result<PreparedNode> p = prepareConv(NodeContext{node, types, constants});
    REQUIRE(p.ok());
    std::vector<Tensor> out = {Tensor::zeros(p->outputTypes[0])};
    Workspace workspace(p->kernel->workspaceBytes(1));
    RunContext run = workspace.context();
    p->kernel->run(inputs, out, run);
    // Best of many runs: the machine is shared, and the minimum is the least disturbed figure.
    double best = INFINITY, total = 0.0;
    for (int rep = 0; rep < 1000 && total < 0.5; ++rep) {
      auto start = std::chrono::steady_clock::now();
      p->kernel->run(inputs, out, run);
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::min(best, seconds);
      total += seconds;
    }
    double ms = best * 1e3;
    MESSAGE(fmt::format("{:24} {:8.3f} ms  {:6.1f} GMAC/s", layer.name, ms,
                        static_cast<double>(p->macs) / (ms * 1e-3) / 1e9));
  }
}

// Every 3x3 depthwise layer of mobilenet_v2 (224x224 input, fused Clip(0, 6) as after fusion),
// through each depthwise kernel; skipped in normal runs. Run with
// conv_test -tc='*depthwise benchmark*' --no-skip. Figures are noted in depthwise_conv.cpp.
TEST_CASE("conv depthwise benchmark on mobilenet_v2 layers" * doctest::skip()) {
  struct Layer {
    int64_t channels, size, stride;
  };
  std::vector<Layer> layers = {{32, 112, 1}, {96, 112, 2}, {144, 56, 1},  {144, 56, 2}, {192, 28, 1},
                               {192, 28, 2}, {384, 14, 1}, {576, 14, 1}, {576, 14, 2}, {960, 7, 1}};
  struct Variant {
    const char* name;
    DepthwiseOptions options;
  };
  std::vector<Variant> variants = {{"auto", {}}, {"lanes8", {8, true}}, {"lanes16", {16, true}}, {"generic", {0, false}}};
  for (const Layer& layer : layers) {
    Shape xs{1, layer.channels, layer.size, layer.size}, ws{layer.channels, 1, 3, 3};
    Result<ConvParams> p =
        parseConvParams(convAttributes(layer.channels, {layer.stride, layer.stride}, {1, 1, 1, 1}, {1, 1}), xs, ws);
    REQUIRE(p.ok());
    Result<Activation> clip = Activation::fromName("Clip", {0.0f, 6.0f});
    REQUIRE(clip.ok());
    p->activation = *clip;
    Tensor x = randomTensor(xs, 1), w = randomTensor(ws, 2), b = randomTensor({layer.channels}, 3);
    Tensor y = Tensor::zeros(DType::F32, p->outputShape);
    std::string line = fmt::format("dw {:4}ch {:3}/{}", layer.channels, layer.size, layer.stride);
    for (const Variant& v : variants) {
      DepthwiseConv dw(*p, v.options);
      Workspace workspace(dw.workspaceBytes(1));
      RunContext run = workspace.context();
      auto once = [&] { dw.run(x.data<float>(), w.data<float>(), b.data<float>(), nullptr, y.data<float>(), run); };
      once();
      double best = INFINITY, total = 0.0;
      for (int rep = 0; rep < 2000 && total < 0.3; ++rep) {
        auto start = std::chrono::steady_clock::now();
        once();
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        best = std::min(best, seconds);
        total += seconds;
      }
      line += fmt::format("  {} {:.3f} ms {:5.1f} GMAC/s", v.name, best * 1e3,
                          static_cast<double>(p->macs()) / best / 1e9);
    }
    MESSAGE(line);
  }
}
