#include "runtime/ops/constant.h"

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Constant and ConstantOfShape match ONNX's test data") {
  checkOnnxNodeCase("test_constant");
  for (const char* name :
       {"test_constantofshape_float_ones", "test_constantofshape_int_shape_zero", "test_constantofshape_int_zeros"})
    checkOnnxNodeCase(name, {0});
}

namespace {
// Prepares directly (not through runNode) to see constantOutputs and the kernel separately.
Result<PreparedNode> prepareWith(const Node& node, const std::vector<Tensor>& inputs, bool constant) {
  std::vector<TensorType> types;
  std::vector<const Tensor*> constants;
  for (const Tensor& t : inputs) {
    types.push_back(t.type());
    constants.push_back(constant ? &t : nullptr);
  }
  PrepareFn prepare = node.opType == "Constant" ? prepareConstant : prepareConstantOfShape;
  return prepare(NodeContext{node, types, constants, 13});
}

Tensor constantValue(Attributes attrs) {
  Result<PreparedNode> prepared = prepareWith(makeNode("Constant", 0, 1, std::move(attrs)), {}, false);
  REQUIRE(prepared.ok());
  REQUIRE(prepared->constantOutputs);
  // The kernel gives the same value when run.
  Tensor run = Tensor::zeros(prepared->outputTypes[0]);
  std::vector<Tensor> outputs = {run};
  prepared->kernel->run({}, outputs, RunContext{});
  CHECK(run.identical((*prepared->constantOutputs)[0]));
  return (*prepared->constantOutputs)[0];
}
}  // namespace

TEST_CASE("Constant takes every form of value attribute") {
  for (DType dtype : ALL_DTYPES) {
    Attributes attrs;
    Tensor value = iotaTensor(dtype, {2, 3});
    attrs.set("value", value);
    CHECK(constantValue(attrs).identical(value));
  }
  Attributes f, fs, i, is;
  f.set("value_float", 2.5f);
  fs.set("value_floats", std::vector<float>{1.0f, 2.0f});
  i.set("value_int", int64_t{7});
  is.set("value_ints", std::vector<int64_t>{3, 4, 5});
  CHECK(constantValue(f).identical(Tensor::scalar<float>(2.5f)));
  CHECK(constantValue(fs).identical(Tensor::fromVector<float>({2}, {1, 2})));
  CHECK(constantValue(i).identical(Tensor::scalar<int64_t>(7)));
  CHECK(constantValue(is).identical(i64s({3, 4, 5})));
}

TEST_CASE("Constant rejects sparse and string values and ambiguous attributes") {
  Attributes sparse, str, none, two;
  sparse.set("sparse_value", Tensor::scalar<float>(1.0f));
  str.set("value_string", std::string("hello"));
  two.set("value_int", int64_t{1});
  two.set("value_float", 1.0f);
  CHECK(prepareError(makeNode("Constant", 0, 1, sparse), {}).find("'sparse_value' is not supported") != std::string::npos);
  CHECK(prepareError(makeNode("Constant", 0, 1, str), {}).find("'value_string' is not supported") != std::string::npos);
  CHECK(prepareError(makeNode("Constant", 0, 1, none), {}).find("exactly one") != std::string::npos);
  CHECK(prepareError(makeNode("Constant", 0, 1, two), {}).find("exactly one") != std::string::npos);
}

TEST_CASE("ConstantOfShape fills any dtype and defaults to float 0") {
  Node plain = makeNode("ConstantOfShape", 1);
  Result<PreparedNode> prepared = prepareWith(plain, {i64s({2, 3})}, true);
  REQUIRE(prepared.ok());
  REQUIRE(prepared->constantOutputs);
  CHECK((*prepared->constantOutputs)[0].identical(Tensor::zeros(DType::F32, {2, 3})));
  for (DType dtype : ALL_DTYPES) {
    Attributes attrs;
    Tensor pair = iotaTensor(dtype, {2});  // element 1 is nonzero in every dtype
    Tensor element = Tensor::zeros(dtype, {1});
    std::memcpy(element.raw(), pair.raw() + dtypeSize(dtype), dtypeSize(dtype));
    attrs.set("value", element);
    Result<std::vector<Tensor>> out = runNode(makeNode("ConstantOfShape", 1, 1, attrs), {i64s({3, 0})}, {0});
    REQUIRE(out.ok());
    CHECK((*out)[0].shape() == Shape{3, 0});
    out = runNode(makeNode("ConstantOfShape", 1, 1, attrs), {i64s({4})}, {0});
    REQUIRE(out.ok());
    for (int64_t k = 0; k < 4; ++k)
      CHECK(std::memcmp((*out)[0].raw() + k * static_cast<int64_t>(dtypeSize(dtype)), element.raw(), dtypeSize(dtype)) == 0);
  }
}

TEST_CASE("ConstantOfShape needs a constant, valid shape") {
  Node node = makeNode("ConstantOfShape", 1);
  CHECK(prepareError(node, {i64s({2})}).find("must be a constant") != std::string::npos);
  CHECK(prepareError(node, {i64s({2, -1})}, {0}).find("negative") != std::string::npos);
  CHECK(prepareError(node, {i64s({INT64_MAX, INT64_MAX})}, {0}).find("too large") != std::string::npos);
  Attributes two;
  two.set("value", Tensor::fromVector<float>({2}, {1, 2}));
  CHECK(prepareError(makeNode("ConstantOfShape", 1, 1, two), {i64s({2})}, {0}).find("one element") != std::string::npos);
}
