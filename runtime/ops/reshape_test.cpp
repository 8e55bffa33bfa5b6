#include "runtime/ops/reshape.h"

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Reshape matches ONNX's test data") {
  for (const char* name : {"test_reshape_allowzero_reordered", "test_reshape_extended_dims", "test_reshape_negative_dim",
                           "test_reshape_negative_extended_dims", "test_reshape_one_dim", "test_reshape_reduced_dims",
                           "test_reshape_reordered_all_dims", "test_reshape_reordered_last_dims",
                           "test_reshape_zero_and_negative_dim", "test_reshape_zero_dim"})
    checkOnnxNodeCase(name, {1});
}

TEST_CASE("Reshape infers -1 and copies 0 unless allowzero") {
  CHECK(*reshapeShape({2, 3, 4}, {4, -1}, false) == Shape{4, 6});
  CHECK(*reshapeShape({2, 3, 4}, {0, -1}, false) == Shape{2, 12});
  CHECK(*reshapeShape({2, 3, 4}, {0, 0, 4}, false) == Shape{2, 3, 4});
  CHECK(*reshapeShape({0, 3}, {3, 0}, true) == Shape{3, 0});
  CHECK_FALSE(reshapeShape({2, 3}, {}, false).ok());
  CHECK(*reshapeShape({}, {}, false) == Shape{});
  CHECK(*reshapeShape({1}, {}, false) == Shape{});
  CHECK_FALSE(reshapeShape({2, 3}, {-1, -1}, false).ok());
  CHECK_FALSE(reshapeShape({2, 3}, {4, -1}, false).ok());
  CHECK_FALSE(reshapeShape({2, 3}, {7}, false).ok());
  CHECK_FALSE(reshapeShape({2, 3}, {0, 0, 0}, false).ok());  // 0 past the input's rank
  CHECK_FALSE(reshapeShape({2, 3}, {-2, -3}, false).ok());
  CHECK_FALSE(reshapeShape({0, 3}, {0, -1}, true).ok());
  CHECK_FALSE(reshapeShape({2, 3}, {INT64_MAX, INT64_MAX, 2}, false).ok());  // overflow, not UB
}

TEST_CASE("Reshape is a view for every dtype") {
  Node node = makeNode("Reshape", 2);
  for (DType dtype : ALL_DTYPES) {
    CAPTURE(dtypeName(dtype));
    Tensor in = iotaTensor(dtype, {2, 3, 4});
    Result<std::vector<Tensor>> out = runNode(node, {in, i64s({4, -1})}, {1});
    REQUIRE(out.ok());
    CHECK((*out)[0].identical(in.reshaped({4, 6})));
  }
  // int32 shape values are accepted too (some exporters write them).
  Result<std::vector<Tensor>> out =
      runNode(node, {iotaTensor(DType::F32, {6}), Tensor::fromVector<int32_t>({2}, {3, 2})}, {1});
  REQUIRE(out.ok());
  CHECK((*out)[0].shape() == Shape{3, 2});
}

TEST_CASE("Reshape reports bad shapes as errors") {
  Node node = makeNode("Reshape", 2);
  Tensor in = iotaTensor(DType::F32, {2, 3});
  CHECK(prepareError(node, {in, i64s({3, 2})}) ==
        "node 'test_Reshape' (Reshape): shape input must be a constant (cleave needs static shapes)");
  CHECK(prepareError(node, {in, i64s({-1, -1})}, {1}).find("more than one -1") != std::string::npos);
  CHECK(prepareError(node, {in, i64s({4, 2})}, {1}).find("cannot reshape") != std::string::npos);
  CHECK(prepareError(node, {in, Tensor::fromVector<float>({2}, {3, 2})}, {1}).find("expected int64") !=
        std::string::npos);
  CHECK(prepareError(node, {in}).find("expects 2 inputs") != std::string::npos);
}
