#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("QuantizeLinear and DequantizeLinear match ONNX's test data") {
  checkOnnxNodeCase("test_quantizelinear");
  checkOnnxNodeCase("test_quantizelinear_axis");
  checkOnnxNodeCase("test_dequantizelinear");
  checkOnnxNodeCase("test_dequantizelinear_axis");
}

TEST_CASE("QuantizeLinear to int8: halves to even, the zero point, saturation; DequantizeLinear back") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  Tensor x = Tensor::fromVector<float>({8}, {0.25f, 0.75f, -0.25f, 1.0f, 100.0f, -100.0f, nan, 0.4f});
  Tensor scale = Tensor::fromVector<float>({}, {0.5f});
  Tensor zeroPoint = Tensor::fromVector<int8_t>({}, {-3});
  Result<std::vector<Tensor>> q = runNode(makeNode("QuantizeLinear", 3, 1), {x, scale, zeroPoint});
  REQUIRE_MESSAGE(q.ok(), (q.ok() ? "" : q.error().message));
  // 0.5 -> 0, 1.5 -> 2, -0.5 -> 0 (even), 2 -> 2; then -3; saturated; NaN -> the zero point.
  CHECK((*q)[0].identical(Tensor::fromVector<int8_t>({8}, {-3, -1, -3, -1, 127, -128, -3, -2})));
  Result<std::vector<Tensor>> back = runNode(makeNode("DequantizeLinear", 3, 1), {(*q)[0], scale, zeroPoint});
  REQUIRE(back.ok());
  CHECK((*back)[0].identical(Tensor::fromVector<float>({8}, {0.0f, 1.0f, 0.0f, 1.0f, 65.0f, -62.5f, 0.0f, 0.5f})));
}

TEST_CASE("DequantizeLinear of int32 biases, per output channel") {
  Tensor bias = Tensor::fromVector<int32_t>({3}, {1000000, -7, 0});
  Tensor scales = Tensor::fromVector<float>({3}, {1e-4f, 0.5f, 2.0f});
  Attributes axis;
  axis.set("axis", int64_t{0});
  Result<std::vector<Tensor>> y = runNode(makeNode("DequantizeLinear", 2, 1, axis), {bias, scales});
  REQUIRE_MESSAGE(y.ok(), (y.ok() ? "" : y.error().message));
  CHECK((*y)[0].identical(Tensor::fromVector<float>({3}, {static_cast<float>(1000000 * 1e-4), -3.5f, 0.0f})));
}

TEST_CASE("QuantizeLinear refuses what it cannot mean, naming the node") {
  Tensor x = Tensor::fromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Result<std::vector<Tensor>> wrongCount =
      runNode(makeNode("QuantizeLinear", 2, 1), {x, Tensor::fromVector<float>({2}, {1.0f, 1.0f})});
  REQUIRE_FALSE(wrongCount.ok());  // axis 1 has 3 entries
  CHECK(wrongCount.error().message.find("2 scales for an axis of 3") != std::string::npos);
  Result<std::vector<Tensor>> intScale = runNode(makeNode("QuantizeLinear", 2, 1), {x, Tensor::fromVector<int32_t>({}, {1})});
  REQUIRE_FALSE(intScale.ok());
  CHECK(intScale.error().message.find("scale must be float") != std::string::npos);
  for (float bad : {0.0f, -0.5f, std::numeric_limits<float>::infinity()}) {
    Result<std::vector<Tensor>> badScale =
        runNode(makeNode("QuantizeLinear", 2, 1), {x, Tensor::fromVector<float>({}, {bad})}, {1});
    REQUIRE_FALSE(badScale.ok());
    CHECK(badScale.error().message.find("is not a positive finite number") != std::string::npos);
  }
}
