#include "runtime/ops/concat.h"

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Concat matches ONNX's test data") {
  for (const char* name :
       {"test_concat_1d_axis_0", "test_concat_1d_axis_negative_1", "test_concat_2d_axis_0", "test_concat_2d_axis_1",
        "test_concat_2d_axis_negative_1", "test_concat_2d_axis_negative_2", "test_concat_3d_axis_0",
        "test_concat_3d_axis_1", "test_concat_3d_axis_2", "test_concat_3d_axis_negative_1",
        "test_concat_3d_axis_negative_2", "test_concat_3d_axis_negative_3"})
    checkOnnxNodeCase(name);
}


TEST_CASE("Concat joins every dtype along a middle axis, with empty inputs") {
  for (DType dtype : ALL_DTYPES) {
    CAPTURE(dtypeName(dtype));
    Tensor a = iotaTensor(dtype, {2, 1, 3}), b = iotaTensor(dtype, {2, 2, 3}), empty = Tensor::zeros(dtype, {2, 0, 3});
    Result<std::vector<Tensor>> out = runNode(makeNode("Concat", 3, 1, axisAttr(-2)), {a, empty, b});
    REQUIRE(out.ok());
    const Tensor& c = (*out)[0];
    REQUIRE(c.shape() == Shape{2, 3, 3});
    size_t es = dtypeSize(dtype);
    // Row r of batch n comes from a (r == 0) or b (r - 1).
    for (int64_t n = 0; n < 2; ++n)
      for (int64_t r = 0; r < 3; ++r) {
        const std::byte* want = r == 0 ? a.raw() + (n * 3) * es : b.raw() + (n * 6 + (r - 1) * 3) * es;
        CHECK(std::memcmp(c.raw() + (n * 9 + r * 3) * es, want, 3 * es) == 0);
      }
  }
}

TEST_CASE("Concat reports mismatched inputs") {
  Tensor a = iotaTensor(DType::F32, {2, 3}), b = iotaTensor(DType::F32, {3, 3});
  CHECK(prepareError(makeNode("Concat", 2, 1, axisAttr(1)), {a, b}).find("does not match") != std::string::npos);
  CHECK(prepareError(makeNode("Concat", 2, 1, axisAttr(0)), {a, iotaTensor(DType::F32, {6})}).find("does not match") !=
        std::string::npos);
  CHECK(prepareError(makeNode("Concat", 2, 1, axisAttr(0)), {a, iotaTensor(DType::I64, {2, 3})}).find("type") !=
        std::string::npos);
  CHECK(prepareError(makeNode("Concat", 2, 1, axisAttr(2)), {a, b}).find("out of range") != std::string::npos);
  CHECK(prepareError(makeNode("Concat", 2), {a, b}).find("'axis' is required") != std::string::npos);
  CHECK(prepareError(makeNode("Concat", 0, 1, axisAttr(0)), {}).find("at least one") != std::string::npos);
  CHECK(prepareError(makeNode("Concat", 2, 1, axisAttr(0)), {a, b}).empty());
}
