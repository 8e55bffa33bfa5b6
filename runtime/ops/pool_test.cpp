#include "runtime/ops/pool.h"

#include <random>

#include "doctest/doctest.h"
#include "runtime/ops/onnx_testdata_util.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/reference/pool.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

Result<PoolGeometry> geometryFor(const Node& node, const Shape& input) {
  std::vector<TensorType> types = {TensorType{DType::F32, input}};
  std::vector<const Tensor*> constants = {nullptr};
  NodeContext ctx{node, types, constants, 13};
  return poolGeometry(ctx, input);
}

Attributes randomPoolAttributes(std::mt19937& engine, size_t spatial, bool isMax) {
  auto pick = [&](int lo, int hi) { return static_cast<int64_t>(std::uniform_int_distribution<int>(lo, hi)(engine)); };
  Attributes attrs;
  std::vector<int64_t> kernel, strides, dilations, pads(2 * spatial);
  for (size_t i = 0; i < spatial; ++i) {
    kernel.push_back(pick(1, 4));
    strides.push_back(pick(1, 3));
    dilations.push_back(isMax ? pick(1, 2) : 1);
    int64_t extent = (kernel.back() - 1) * dilations.back() + 1;
    pads[i] = pick(0, static_cast<int>(extent - 1));
    pads[i + spatial] = pick(0, static_cast<int>(extent - 1));
  }
  attrs.set("kernel_shape", kernel);
  attrs.set("strides", strides);
  if (isMax) attrs.set("dilations", dilations);
  const char* modes[] = {"NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
  std::string mode = modes[pick(0, 4)];
  attrs.set("auto_pad", mode);
  if (mode == "NOTSET") attrs.set("pads", pads);
  attrs.set("ceil_mode", pick(0, 1));
  if (!isMax) attrs.set("count_include_pad", pick(0, 1));
  return attrs;
}

}  // namespace

TEST_CASE("pooling matches ONNX node tests") {
  for (const char* name :
       {"test_maxpool_1d_default", "test_maxpool_2d_ceil", "test_maxpool_2d_default", "test_maxpool_2d_dilations",
        "test_maxpool_2d_pads", "test_maxpool_2d_precomputed_pads", "test_maxpool_2d_precomputed_same_upper",
        "test_maxpool_2d_precomputed_strides", "test_maxpool_2d_same_lower", "test_maxpool_2d_same_upper",
        "test_maxpool_2d_strides", "test_maxpool_2d_uint8", "test_maxpool_3d_default",
        // test_maxpool_with_argmax_2d_precomputed_strides uses storage_order=1, which we reject.
        "test_maxpool_with_argmax_2d_precomputed_pads",
        "test_averagepool_1d_default", "test_averagepool_2d_ceil", "test_averagepool_2d_default",
        "test_averagepool_2d_pads", "test_averagepool_2d_pads_count_include_pad",
        "test_averagepool_2d_precomputed_pads", "test_averagepool_2d_precomputed_pads_count_include_pad",
        "test_averagepool_2d_precomputed_same_upper", "test_averagepool_2d_precomputed_strides",
        "test_averagepool_2d_same_lower", "test_averagepool_2d_same_upper", "test_averagepool_2d_strides",
        "test_averagepool_3d_default", "test_globalaveragepool", "test_globalaveragepool_precomputed"}) {
    CAPTURE(name);
    Result<float> diff = runOnnxNodeCase(name);
    REQUIRE_MESSAGE(diff.ok(), (diff.ok() ? "" : diff.error().message));
    CHECK(*diff <= 1e-5f);
  }
}

TEST_CASE("fast pooling matches the reference on random geometries") {
  std::mt19937 engine(42);
  ThreadPool pool(2);
  int checked = 0;
  for (int iter = 0; iter < 400; ++iter) {
    bool isMax = iter % 2 == 0;
    size_t spatial = 1 + static_cast<size_t>(engine() % 3);
    Shape shape = {1 + static_cast<int64_t>(engine() % 2), 1 + static_cast<int64_t>(engine() % 3)};
    for (size_t i = 0; i < spatial; ++i) shape.push_back(1 + static_cast<int64_t>(engine() % (spatial == 3 ? 6 : 11)));
    Attributes attrs = randomPoolAttributes(engine, spatial, isMax);
    Node node = makeNode(isMax ? "MaxPool" : "AveragePool", 1, isMax ? 2 : 1, attrs);
    Result<PoolGeometry> g = geometryFor(node, shape);
    if (!g) continue;  // e.g. a kernel larger than a small input
    CAPTURE(shapeString(shape));
    CAPTURE(iter);
    Tensor x = randomTensor(shape, engine());
    auto out = runNode(node, {x}, {}, 13, iter % 4 == 0 ? RunContext{&pool} : RunContext{});
    REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message));
    Tensor expected = Tensor::zeros((*out)[0].type());
    Tensor expectedIndices = Tensor::zeros(DType::I64, expected.shape());
    REQUIRE(expected.numel() == g->planes * g->outPlane());
    reference::pool<float>(*g, isMax, attrs.getInt("count_include_pad", 0).value() != 0, x.data<float>(),
                           expected.data<float>(), expectedIndices.data<int64_t>());
    CHECK(maxAbsDiff((*out)[0], expected) <= 1e-5f);
    if (isMax) {
      CHECK((*out)[1].identical(expectedIndices));
      // Without the Indices output the separable fast path runs; values must agree too.
      Node plain = makeNode("MaxPool", 1, 1, attrs);
      auto fast = runNode(plain, {x});
      REQUIRE(fast.ok());
      CHECK((*fast)[0].identical(expected));
    }
    ++checked;
  }
  CHECK(checked > 250);
}

TEST_CASE("MaxPool indices break ties like ONNX Runtime and handle u8") {
  // All-equal input: every window's index is its first element in row-major window order.
  Attributes attrs;
  attrs.set("kernel_shape", std::vector<int64_t>{2, 2});
  attrs.set("strides", std::vector<int64_t>{2, 2});
  Tensor x = Tensor::fromVector<uint8_t>({1, 2, 4, 4}, std::vector<uint8_t>(32, 7));
  auto out = runNode(makeNode("MaxPool", 1, 2, attrs), {x});
  REQUIRE(out.ok());
  std::span<const int64_t> idx = (*out)[1].values<int64_t>();
  CHECK(std::vector<int64_t>(idx.begin(), idx.end()) == std::vector<int64_t>{0, 2, 8, 10, 16, 18, 24, 26});
  CHECK((*out)[0].values<uint8_t>()[3] == 7);
}

TEST_CASE("resnet-style 3x3 s2 p1 max pool and count_include_pad hand check") {
  Attributes attrs;
  attrs.set("kernel_shape", std::vector<int64_t>{3, 3});
  attrs.set("strides", std::vector<int64_t>{2, 2});
  attrs.set("pads", std::vector<int64_t>{1, 1, 1, 1});
  Tensor x = randomTensor({1, 4, 112, 112}, 5);
  auto out = runNode(makeNode("MaxPool", 1, 1, attrs), {x});
  REQUIRE(out.ok());
  CHECK((*out)[0].shape() == Shape{1, 4, 56, 56});

  // 1D [1,2,3] with kernel 2, pad 1 each side: windows {pad,1}, {2,3}, {3,pad}... stride 1 gives 4 outputs.
  Attributes avg;
  avg.set("kernel_shape", std::vector<int64_t>{2});
  avg.set("pads", std::vector<int64_t>{1, 1});
  avg.set("count_include_pad", int64_t{1});
  auto a = runNode(makeNode("AveragePool", 1, 1, avg), {Tensor::fromVector<float>({1, 1, 3}, {1, 2, 3})});
  REQUIRE(a.ok());
  std::span<const float> v = (*a)[0].values<float>();
  REQUIRE(v.size() == 4);
  CHECK(v[0] == 0.5f);
  CHECK(v[1] == 1.5f);
  CHECK(v[3] == 1.5f);
  avg.set("count_include_pad", int64_t{0});
  auto b = runNode(makeNode("AveragePool", 1, 1, avg), {Tensor::fromVector<float>({1, 1, 3}, {1, 2, 3})});
  REQUIRE(b.ok());
  CHECK((*b)[0].values<float>()[0] == 1.0f);
  CHECK((*b)[0].values<float>()[3] == 3.0f);
}

TEST_CASE("ceil_mode drops a window that would start in the end padding") {
  Attributes attrs;
  attrs.set("kernel_shape", std::vector<int64_t>{2});
  attrs.set("strides", std::vector<int64_t>{2});
  attrs.set("pads", std::vector<int64_t>{1, 1});
  attrs.set("ceil_mode", int64_t{1});
  // Padded length 6: starts at -1, 1, 3 (ceil would add one starting at 5 = end padding).
  Result<PoolGeometry> g = geometryFor(makeNode("MaxPool", 1, 1, attrs), {1, 1, 5});
  REQUIRE(g.ok());
  CHECK(g->out[2] == 3);
}

TEST_CASE("GlobalAveragePool over rank 3 to 5") {
  for (Shape shape : {Shape{2, 3, 5}, Shape{1, 4, 7, 7}, Shape{2, 2, 3, 2, 9}, Shape{1, 3, 1, 1}}) {
    CAPTURE(shapeString(shape));
    Tensor x = randomTensor(shape, 9);
    auto out = runNode(makeNode("GlobalAveragePool", 1), {x});
    REQUIRE(out.ok());
    Shape expectedShape(shape.size(), 1);
    expectedShape[0] = shape[0];
    expectedShape[1] = shape[1];
    CHECK((*out)[0].shape() == expectedShape);
    int64_t planes = shape[0] * shape[1], size = x.numel() / planes;
    for (int64_t p = 0; p < planes; ++p) {
      double sum = 0;
      for (int64_t i = 0; i < size; ++i) sum += static_cast<double>(x.data<float>()[p * size + i]);
      CHECK((*out)[0].data<float>()[p] == doctest::Approx(sum / static_cast<double>(size)).epsilon(1e-5));
    }
  }
  CHECK_FALSE(runNode(makeNode("GlobalAveragePool", 1), {randomTensor({2, 3}, 1)}).ok());
  CHECK_FALSE(runNode(makeNode("GlobalAveragePool", 1), {Tensor::fromVector<int32_t>({1, 1, 1}, {1})}).ok());
}

TEST_CASE("pooling rejects bad attributes and inputs") {
  Tensor x = randomTensor({1, 1, 4, 4}, 3);
  auto base = [] {
    Attributes a;
    a.set("kernel_shape", std::vector<int64_t>{2, 2});
    return a;
  };
  auto fails = [&](const char* op, Attributes attrs, const char* needle, Tensor in) {
    Result<std::vector<Tensor>> r = runNode(makeNode(op, 1, 1, std::move(attrs)), {in});
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(r.error().message.find(needle) != std::string::npos, r.error().message);
  };
  Attributes a = base();
  a.set("auto_pad", std::string("SAME"));
  fails("MaxPool", a, "auto_pad", x);
  a = base();
  a.set("kernel_shape", std::vector<int64_t>{5, 5});
  fails("AveragePool", a, "larger than the padded input", x);
  a = base();
  a.set("storage_order", int64_t{1});
  fails("MaxPool", a, "storage_order", x);
  fails("AveragePool", base(), "type", Tensor::fromVector<int32_t>({1, 1, 2, 2}, {1, 2, 3, 4}));
  fails("MaxPool", Attributes{}, "kernel_shape", x);
  a = base();
  a.set("kernel_shape", std::vector<int64_t>{2});
  fails("MaxPool", a, "kernel_shape", x);
  a = base();
  a.set("pads", std::vector<int64_t>{2, 0, 0, 0});
  fails("MaxPool", a, "pads", x);
  a = base();
  a.set("strides", std::vector<int64_t>{0, 1});
  fails("MaxPool", a, "strides", x);
  a = base();
  a.set("ceil_mode", int64_t{2});
  fails("AveragePool", a, "ceil_mode", x);
  fails("MaxPool", base(), "rank", randomTensor({4, 4}, 1));
  // Dilation 3 over a width-1 input with pad 2: the window at -2 reads -2 and 1, both outside.
  a = Attributes{};
  a.set("kernel_shape", std::vector<int64_t>{2});
  a.set("dilations", std::vector<int64_t>{3});
  a.set("pads", std::vector<int64_t>{2, 2});
  fails("MaxPool", a, "covers no input", randomTensor({1, 1, 1}, 1));
}
