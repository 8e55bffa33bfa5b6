#include "runtime/ops/squeeze.h"

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Squeeze and Unsqueeze match ONNX's test data") {
  for (const char* name : {"test_squeeze", "test_squeeze_negative_axes", "test_unsqueeze_axis_0", "test_unsqueeze_axis_1",
                           "test_unsqueeze_axis_2", "test_unsqueeze_axis_3", "test_unsqueeze_negative_axes",
                           "test_unsqueeze_three_axes", "test_unsqueeze_two_axes", "test_unsqueeze_unsorted_axes"})
    checkOnnxNodeCase(name, {1});
}

TEST_CASE("Squeeze shapes") {
  CHECK(*squeezeShape({1, 3, 1, 5}, std::nullopt) == Shape{3, 5});
  CHECK(*squeezeShape({1, 3, 1, 5}, std::vector<int64_t>{0}) == Shape{3, 1, 5});
  CHECK(*squeezeShape({1, 3, 1, 5}, std::vector<int64_t>{-2, 0}) == Shape{3, 5});
  CHECK(*squeezeShape({1, 1}, std::nullopt) == Shape{});
  CHECK_FALSE(squeezeShape({1, 3}, std::vector<int64_t>{1}).ok());
  CHECK_FALSE(squeezeShape({1, 3}, std::vector<int64_t>{2}).ok());
  CHECK_FALSE(squeezeShape({1, 1}, std::vector<int64_t>{0, -2}).ok());
}

TEST_CASE("Unsqueeze shapes") {
  CHECK(*unsqueezeShape({3, 5}, {0}) == Shape{1, 3, 5});
  CHECK(*unsqueezeShape({3, 5}, {-1}) == Shape{3, 5, 1});
  CHECK(*unsqueezeShape({3, 5}, {3, 0}) == Shape{1, 3, 5, 1});
  CHECK(*unsqueezeShape({}, {0}) == Shape{1});
  CHECK_FALSE(unsqueezeShape({3}, {2}).ok());
  CHECK_FALSE(unsqueezeShape({3}, {0, 0}).ok());
}

TEST_CASE("Squeeze and Unsqueeze read axes from the attribute before opset 13") {
  Attributes attrs;
  attrs.set("axes", std::vector<int64_t>{1});
  Tensor in = iotaTensor(DType::I64, {3, 1, 2});
  Result<std::vector<Tensor>> squeezed = runNode(makeNode("Squeeze", 1, 1, attrs), {in}, {}, 11);
  REQUIRE(squeezed.ok());
  CHECK((*squeezed)[0].identical(in.reshaped({3, 2})));
  Result<std::vector<Tensor>> unsqueezed = runNode(makeNode("Unsqueeze", 1, 1, attrs), {(*squeezed)[0]}, {}, 11);
  REQUIRE(unsqueezed.ok());
  CHECK((*unsqueezed)[0].identical(in));
  // Without axes, Squeeze drops every 1.
  Result<std::vector<Tensor>> all = runNode(makeNode("Squeeze", 1), {iotaTensor(DType::Bool, {1, 4, 1})}, {}, 11);
  REQUIRE(all.ok());
  CHECK((*all)[0].shape() == Shape{4});
  CHECK(prepareError(makeNode("Unsqueeze", 1), {in}, {}, 11).find("'axes' is required") != std::string::npos);
}

TEST_CASE("Squeeze and Unsqueeze work for every dtype from opset 13") {
  for (DType dtype : ALL_DTYPES) {
    CAPTURE(dtypeName(dtype));
    Tensor in = iotaTensor(dtype, {2, 1, 3});
    Result<std::vector<Tensor>> out = runNode(makeNode("Squeeze", 2), {in, i64s({-2})}, {1});
    REQUIRE(out.ok());
    CHECK((*out)[0].identical(in.reshaped({2, 3})));
    out = runNode(makeNode("Unsqueeze", 2), {in, i64s({0, 4})}, {1});
    REQUIRE(out.ok());
    CHECK((*out)[0].identical(in.reshaped({1, 2, 1, 3, 1})));
    out = runNode(makeNode("Squeeze", 1), {in});
    REQUIRE(out.ok());
    CHECK((*out)[0].identical(in.reshaped({2, 3})));
  }
}

TEST_CASE("Squeeze and Unsqueeze report bad axes") {
  Tensor in = iotaTensor(DType::F32, {2, 1, 3});
  CHECK(prepareError(makeNode("Squeeze", 2), {in, i64s({0})}, {1}).find("not 1") != std::string::npos);
  CHECK(prepareError(makeNode("Squeeze", 2), {in, i64s({1})}).find("must be a constant") != std::string::npos);
  CHECK(prepareError(makeNode("Unsqueeze", 2), {in, i64s({1, 1})}, {1}).find("more than once") != std::string::npos);
  CHECK(prepareError(makeNode("Unsqueeze", 2), {in, i64s({5})}, {1}).find("out of range") != std::string::npos);
  CHECK(prepareError(makeNode("Unsqueeze", 1), {in}).find("required") != std::string::npos);
}
