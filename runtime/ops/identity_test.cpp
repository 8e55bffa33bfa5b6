#include "runtime/ops/identity.h"

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Identity and Dropout match ONNX's test data") {
  checkOnnxNodeCase("test_identity");
  for (const char* name : {"test_dropout_default", "test_dropout_default_mask", "test_dropout_default_mask_ratio",
                           "test_dropout_default_ratio", "test_dropout_default_old", "test_dropout_random_old"})
    checkOnnxNodeCase(name, {1, 2});
}

TEST_CASE("Identity and Dropout copy every dtype and may alias") {
  for (DType dtype : ALL_DTYPES) {
    CAPTURE(dtypeName(dtype));
    Tensor in = iotaTensor(dtype, {3, 5});
    Result<std::vector<Tensor>> out = runNode(makeNode("Identity", 1), {in});
    REQUIRE(out.ok());
    CHECK((*out)[0].identical(in));
    CHECK((*out)[0].raw() != in.raw());  // standalone, the kernel copies
    out = runNode(makeNode("Dropout", 1, 2), {in});
    REQUIRE(out.ok());
    REQUIRE(out->size() == 2);
    CHECK((*out)[0].identical(in));
    CHECK((*out)[1].identical(Tensor::fromVector<bool>({3, 5}, std::vector<bool>(15, true))));
  }
  Node node = makeNode("Dropout", 1);
  std::vector<TensorType> types = {TensorType{DType::F32, {2}}};
  std::vector<const Tensor*> constants = {nullptr};
  Result<PreparedNode> prepared = prepareIdentity(NodeContext{node, types, constants, 13});
  REQUIRE(prepared.ok());
  CHECK(prepared->aliasesInput);
  CHECK(prepared->outputTypes.size() == 1);
  // A named mask must be filled by the kernel, so the node is no longer a pure alias.
  Node withMask = makeNode("Dropout", 1, 2);
  prepared = prepareIdentity(NodeContext{withMask, types, constants, 13});
  REQUIRE(prepared.ok());
  CHECK_FALSE(prepared->aliasesInput);
  withMask.outputs[1] = "";
  prepared = prepareIdentity(NodeContext{withMask, types, constants, 13});
  REQUIRE(prepared.ok());
  CHECK(prepared->aliasesInput);
  CHECK(prepared->outputTypes.size() == 2);
}

TEST_CASE("Dropout in training mode is an error, a run-time training_mode counts as inference") {
  Node node = makeNode("Dropout", 3, 2);
  Tensor in = iotaTensor(DType::F32, {4});
  Tensor ratio = Tensor::scalar<float>(0.5f);
  CHECK(prepareError(node, {in, ratio, Tensor::scalar<bool>(true)}, {1, 2}).find("training_mode is true") !=
        std::string::npos);
  CHECK(prepareError(node, {in, ratio, Tensor::scalar<bool>(false)}, {1, 2}).empty());
  CHECK(prepareError(node, {in, ratio, Tensor::scalar<bool>(true)}, {1}).empty());
  CHECK(prepareError(node, {in, Tensor{}, Tensor::scalar<bool>(false)}, {2}).empty());
}

TEST_CASE("Dropout before opset 10 gives a mask of the data type") {
  Result<std::vector<Tensor>> out = runNode(makeNode("Dropout", 1, 2), {iotaTensor(DType::F32, {3})}, {}, 7);
  REQUIRE(out.ok());
  CHECK((*out)[1].identical(Tensor::fromVector<float>({3}, {1, 1, 1})));
}
