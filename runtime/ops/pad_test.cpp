#include "runtime/ops/pad.h"

#include <random>

#include <doctest/doctest.h>

#include "runtime/ops/cast.h"
#include "runtime/ops/reference/pad.h"
#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Pad matches ONNX's test data") { checkOnnxNodeCase("test_constant_pad", {1, 2}); }

TEST_CASE("Pad rejects the reflect and edge modes by name") {
  for (const char* name : {"test_reflect_pad", "test_edge_pad"}) {
    if (!std::filesystem::exists(ONNX_NODE_TESTS / name)) continue;
    Result<OnnxNodeCase> c = loadOnnxNodeCase(name);
    REQUIRE(c.ok());
    std::string error = prepareError(c->node, c->inputs, {1, 2}, c->opset);
    CAPTURE(error);
    CHECK(error.find(std::string("mode '") + (name == std::string("test_reflect_pad") ? "reflect" : "edge") + "'") !=
          std::string::npos);
  }
}

TEST_CASE("reference Pad matches a hand-computed case with cropping") {
  Tensor in = Tensor::fromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  std::vector<int64_t> pads = {1, -1, 0, 1};  // one row before, crop one column at the front, one column after
  Tensor out = Tensor::zeros(DType::F32, *padShape(in.shape(), pads));
  float nine = 9.0f;
  reference::pad(in, pads, reinterpret_cast<const std::byte*>(&nine), out);
  CHECK(out.identical(Tensor::fromVector<float>({3, 3}, {9, 9, 9, 2, 3, 9, 5, 6, 9})));
}

TEST_CASE("fast Pad equals the reference on random pads and dtypes") {
  std::mt19937 rng(5);
  std::vector<Shape> shapes = {{5}, {3, 4}, {2, 3, 4}, {1, 3, 5, 6}, {2, 1, 4, 1}};
  for (const Shape& shape : shapes) {
    for (int trial = 0; trial < 15; ++trial) {
      std::vector<int64_t> pads(2 * shape.size());
      for (size_t k = 0; k < shape.size(); ++k) {
        std::uniform_int_distribution<int64_t> p(-shape[k] / 2 - 1, 3);
        pads[k] = p(rng);
        pads[k + shape.size()] = p(rng);
        if (shape[k] + pads[k] + pads[k + shape.size()] < 0) pads[k] = pads[k + shape.size()] = 0;
      }
      Result<Shape> outShape = padShape(shape, pads);
      REQUIRE(outShape.ok());
      for (DType dtype : ALL_DTYPES) {
        CAPTURE(shapeString(shape));
        CAPTURE(shapeString(pads));
        CAPTURE(dtypeName(dtype));
        Tensor in = iotaTensor(dtype, shape);
        std::byte value[8] = {};
        float seven = 7.0f;
        convertElements(reinterpret_cast<const std::byte*>(&seven), DType::F32, value, dtype, 1);
        Tensor want = Tensor::zeros(dtype, *outShape), got = Tensor::zeros(dtype, *outShape);
        reference::pad(in, pads, value, want);
        pad(in, pads, value, got, RunContext{});
        CHECK(got.identical(want));
      }
    }
  }
}

TEST_CASE("Pad through the op: opset 10 attributes, opset 11 inputs, opset 18 axes") {
  Tensor in = Tensor::fromVector<int32_t>({2, 2}, {1, 2, 3, 4});
  Attributes attrs;
  attrs.set("pads", std::vector<int64_t>{0, 1, 0, 0});
  attrs.set("value", 5.0f);
  Result<std::vector<Tensor>> v10 = runNode(makeNode("Pad", 1, 1, attrs), {in}, {}, 10);
  REQUIRE(v10.ok());
  CHECK((*v10)[0].identical(Tensor::fromVector<int32_t>({2, 3}, {5, 1, 2, 5, 3, 4})));

  Result<std::vector<Tensor>> v11 = runNode(makeNode("Pad", 3), {in, i64s({0, 1, 0, 0}), Tensor::scalar<int32_t>(5)}, {1}, 13);
  REQUIRE(v11.ok());
  CHECK((*v11)[0].identical((*v10)[0]));

  Result<std::vector<Tensor>> noValue = runNode(makeNode("Pad", 2), {in, i64s({1, 0, 0, 0})}, {1}, 13);
  REQUIRE(noValue.ok());
  CHECK((*noValue)[0].identical(Tensor::fromVector<int32_t>({3, 2}, {0, 0, 1, 2, 3, 4})));

  Result<std::vector<Tensor>> axes =
      runNode(makeNode("Pad", 4), {in, i64s({1, 0}), Tensor::scalar<int32_t>(5), i64s({-1})}, {1, 3}, 18);
  REQUIRE(axes.ok());
  CHECK((*axes)[0].identical((*v10)[0]));
}

TEST_CASE("Pad reports bad pads") {
  Tensor in = iotaTensor(DType::F32, {2, 3});
  Node node = makeNode("Pad", 2);
  CHECK(prepareError(node, {in, i64s({0, 0, 0, 0})}).find("pads input must be a constant") != std::string::npos);
  CHECK(prepareError(node, {in, i64s({0, 0, 0})}, {1}).find("expected 4") != std::string::npos);
  CHECK(prepareError(node, {in, i64s({0, -2, 0, -2})}, {1}).find("crop more") != std::string::npos);
  CHECK(prepareError(node, {in, i64s({INT64_MIN, 0, 0, 0})}, {1}).find("out of range") != std::string::npos);
  CHECK(prepareError(makeNode("Pad", 3), {in, i64s({0, 0, 0, 0}), Tensor::scalar<int64_t>(1)}, {1}).find("type") !=
        std::string::npos);
  Attributes wrap;
  wrap.set("mode", std::string("wrap"));
  CHECK(prepareError(makeNode("Pad", 2, 1, wrap), {in, i64s({0, 0, 0, 0})}, {1}).find("mode 'wrap'") !=
        std::string::npos);
}
