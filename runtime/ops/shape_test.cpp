#include "runtime/ops/shape.h"

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Shape matches ONNX's test data") {
  for (const char* name : {"test_shape", "test_shape_clip_end", "test_shape_clip_start", "test_shape_end_1",
                           "test_shape_end_negative_1", "test_shape_example", "test_shape_start_1",
                           "test_shape_start_1_end_2", "test_shape_start_1_end_negative_1", "test_shape_start_negative_1"})
    checkOnnxNodeCase(name);
}

TEST_CASE("Shape is a constant for any dtype, with clamped start/end") {
  for (DType dtype : ALL_DTYPES) {
    Node node = makeNode("Shape", 1);
    std::vector<TensorType> types = {TensorType{dtype, {2, 3, 4}}};
    std::vector<const Tensor*> constants = {nullptr};
    Result<PreparedNode> prepared = prepareShape(NodeContext{node, types, constants, 15});
    REQUIRE(prepared.ok());
    REQUIRE(prepared->constantOutputs);
    CHECK((*prepared->constantOutputs)[0].identical(i64s({2, 3, 4})));
  }
  Attributes attrs;
  attrs.set("start", int64_t{2});
  attrs.set("end", int64_t{1});  // empty range
  Result<std::vector<Tensor>> out = runNode(makeNode("Shape", 1, 1, attrs), {iotaTensor(DType::F32, {2, 3, 4})});
  REQUIRE(out.ok());
  CHECK((*out)[0].shape() == Shape{0});
  Attributes extreme;
  extreme.set("start", INT64_MIN);
  extreme.set("end", INT64_MAX);
  out = runNode(makeNode("Shape", 1, 1, extreme), {iotaTensor(DType::F32, {2, 3})});
  REQUIRE(out.ok());
  CHECK((*out)[0].identical(i64s({2, 3})));
  out = runNode(makeNode("Shape", 1), {Tensor::scalar<float>(1.0f)});
  REQUIRE(out.ok());
  CHECK((*out)[0].shape() == Shape{0});
}
