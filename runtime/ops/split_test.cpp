#include "runtime/ops/split.h"

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Split matches ONNX's test data") {
  for (const char* name : {"test_split_equal_parts_1d", "test_split_equal_parts_2d", "test_split_equal_parts_default_axis",
                           "test_split_variable_parts_1d", "test_split_variable_parts_2d",
                           "test_split_variable_parts_default_axis", "test_split_zero_size_splits"})
    checkOnnxNodeCase(name, {1});
}

TEST_CASE("split sizes") {
  CHECK(*splitSizes(6, 3, std::nullopt) == std::vector<int64_t>{2, 2, 2});
  CHECK(*splitSizes(6, 2, std::vector<int64_t>{1, 5}) == std::vector<int64_t>{1, 5});
  CHECK(*splitSizes(7, 3, std::nullopt, true) == std::vector<int64_t>{3, 3, 1});
  CHECK(*splitSizes(0, 2, std::nullopt) == std::vector<int64_t>{0, 0});
  CHECK_FALSE(splitSizes(7, 3, std::nullopt).ok());
  CHECK_FALSE(splitSizes(6, 2, std::vector<int64_t>{1, 2}).ok());
  CHECK_FALSE(splitSizes(6, 2, std::vector<int64_t>{7, -1}).ok());
  CHECK_FALSE(splitSizes(6, 3, std::vector<int64_t>{3, 3}).ok());
}

TEST_CASE("Split cuts every dtype along a middle axis; attribute before opset 13") {
  Attributes attrs;
  attrs.set("axis", int64_t{1});
  attrs.set("split", std::vector<int64_t>{1, 3});
  for (DType dtype : ALL_DTYPES) {
    CAPTURE(dtypeName(dtype));
    Tensor in = iotaTensor(dtype, {2, 4, 3});
    Result<std::vector<Tensor>> v11 = runNode(makeNode("Split", 1, 2, attrs), {in}, {}, 11);
    Attributes axisOnly;
    axisOnly.set("axis", int64_t{1});
    Result<std::vector<Tensor>> v13 = runNode(makeNode("Split", 2, 2, axisOnly), {in, i64s({1, 3})}, {1}, 13);
    REQUIRE(v11.ok());
    REQUIRE(v13.ok());
    for (const auto& out : {*v11, *v13}) {
      REQUIRE(out.size() == 2);
      CHECK(out[0].shape() == Shape{2, 1, 3});
      CHECK(out[1].shape() == Shape{2, 3, 3});
      size_t es = dtypeSize(dtype);
      for (int64_t n = 0; n < 2; ++n) {
        CHECK(std::memcmp(out[0].raw() + n * 3 * es, in.raw() + n * 12 * es, 3 * es) == 0);
        CHECK(std::memcmp(out[1].raw() + n * 9 * es, in.raw() + (n * 12 + 3) * es, 9 * es) == 0);
      }
    }
  }
}

TEST_CASE("Split reports bad sizes") {
  Tensor in = iotaTensor(DType::F32, {7, 2});
  CHECK(prepareError(makeNode("Split", 1, 2), {in}).find("does not split into 2 equal parts") != std::string::npos);
  CHECK(prepareError(makeNode("Split", 2, 2), {in, i64s({3, 3})}, {1}).find("sum to 6") != std::string::npos);
  CHECK(prepareError(makeNode("Split", 2, 2), {in, i64s({3, 4})}).find("must be a constant") != std::string::npos);
  CHECK(prepareError(makeNode("Split", 2, 3), {in, i64s({3, 4})}, {1}).find("2 sizes for 3 outputs") !=
        std::string::npos);
}
