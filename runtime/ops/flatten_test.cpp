#include "runtime/ops/flatten.h"

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Flatten matches ONNX's test data") {
  for (const char* name : {"test_flatten_axis0", "test_flatten_axis1", "test_flatten_axis2", "test_flatten_axis3",
                           "test_flatten_default_axis", "test_flatten_negative_axis1", "test_flatten_negative_axis2",
                           "test_flatten_negative_axis3", "test_flatten_negative_axis4"})
    checkOnnxNodeCase(name);
}

TEST_CASE("Flatten shapes follow the axis, which may equal the rank") {
  CHECK(*flattenShape({2, 3, 4}, 0) == Shape{1, 24});
  CHECK(*flattenShape({2, 3, 4}, 2) == Shape{6, 4});
  CHECK(*flattenShape({2, 3, 4}, 3) == Shape{24, 1});
  CHECK(*flattenShape({2, 3, 4}, -3) == Shape{1, 24});
  CHECK(*flattenShape({}, 0) == Shape{1, 1});
  CHECK_FALSE(flattenShape({2, 3, 4}, 4).ok());
  CHECK_FALSE(flattenShape({2, 3, 4}, -4).ok());
}

TEST_CASE("Flatten is a view for every dtype and copies when run standalone") {
  Attributes attrs;
  attrs.set("axis", int64_t{2});
  Node node = makeNode("Flatten", 1, 1, attrs);
  for (DType dtype : ALL_DTYPES) {
    CAPTURE(dtypeName(dtype));
    Tensor in = iotaTensor(dtype, {2, 3, 4, 5});
    Result<std::vector<Tensor>> out = runNode(node, {in});
    REQUIRE(out.ok());
    CHECK((*out)[0].identical(in.reshaped({6, 20})));
  }
  std::vector<TensorType> types = {TensorType{DType::F32, {2, 3}}};
  std::vector<const Tensor*> constants = {nullptr};
  Result<PreparedNode> prepared = prepareFlatten(NodeContext{node, types, constants, 13});
  REQUIRE(prepared.ok());
  CHECK(prepared->aliasesInput);
  CHECK(prepared->macs == 0);
}

TEST_CASE("Flatten rejects an axis out of range") {
  Attributes attrs;
  attrs.set("axis", int64_t{5});
  CHECK(prepareError(makeNode("Flatten", 1, 1, attrs), {iotaTensor(DType::F32, {2, 3})}).find("out of range") !=
        std::string::npos);
}
