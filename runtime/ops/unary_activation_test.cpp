#include "runtime/ops/unary_activation.h"

#include "doctest/doctest.h"
#include "runtime/ops/onnx_testdata_util.h"
#include "runtime/ops/op_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("applyActivation matches Activation::apply elementwise") {
  const std::vector<Activation> kinds = {
      {Activation::Kind::Relu, 0, 0},        {Activation::Kind::LeakyRelu, 0.1f, 0},
      {Activation::Kind::Clip, -0.5f, 0.7f}, {Activation::Kind::Sigmoid, 0, 0},
      {Activation::Kind::HardSigmoid, 0.2f, 0.5f}, {Activation::Kind::HardSwish, 0, 0},
  };
  for (int64_t n : {1, 7, 64, 1023, 1025, 5000}) {
    Tensor x = randomTensor({n}, static_cast<uint32_t>(n), -8.0f, 8.0f);
    for (const Activation& a : kinds) {
      CAPTURE(a.name());
      CAPTURE(n);
      Tensor y = Tensor::zeros(DType::F32, {n});
      applyActivation(a, x.data<float>(), y.data<float>(), n);
      for (int64_t i = 0; i < n; ++i) REQUIRE(y.data<float>()[i] == a.apply(x.data<float>()[i]));
      // In place gives the same.
      Tensor z = x.clone();
      applyActivation(a, z.data<float>(), z.data<float>(), n);
      CHECK(maxAbsDiff(y, z) == 0.0f);
    }
  }
}

TEST_CASE("unary activations match ONNX node tests") {
  for (const char* name : {"test_relu", "test_leakyrelu", "test_leakyrelu_default", "test_leakyrelu_example",
                           "test_sigmoid", "test_sigmoid_example", "test_hardsigmoid", "test_hardsigmoid_default",
                           "test_hardsigmoid_example", "test_hardswish", "test_clip", "test_clip_default_inbounds",
                           "test_clip_default_max", "test_clip_default_min", "test_clip_example", "test_clip_inbounds",
                           "test_clip_outbounds", "test_clip_splitbounds", "test_clip_default_int8_inbounds",
                           "test_clip_default_int8_max", "test_clip_default_int8_min"}) {
    CAPTURE(name);
    // Clip's bounds arrive as graph inputs here, so this covers the run-time-bounds path...
    Result<float> diff = runOnnxNodeCase(name);
    REQUIRE_MESSAGE(diff.ok(), (diff.ok() ? "" : diff.error().message));
    CHECK(*diff <= 1e-6f);
    // ...and again with every input shown to prepare as a constant, the baked-bounds path.
    Result<float> constDiff = runOnnxNodeCase(name, {0, 1, 2});
    REQUIRE(constDiff.ok());
    CHECK(*constDiff <= 1e-6f);
  }
}

TEST_CASE("Clip before opset 11 takes min and max attributes") {
  Attributes attrs;
  attrs.set("min", -1.0f);
  attrs.set("max", 2.0f);
  Node node = makeNode("Clip", 1, 1, attrs);
  Tensor x = Tensor::fromVector<float>({4}, {-3.0f, 0.5f, 1.5f, 9.0f});
  auto out = runNode(node, {x}, {}, 6);
  REQUIRE(out.ok());
  CHECK((*out)[0].values<float>()[0] == -1.0f);
  CHECK((*out)[0].values<float>()[1] == 0.5f);
  CHECK((*out)[0].values<float>()[3] == 2.0f);
  // Defaults: unbounded.
  auto open = runNode(makeNode("Clip", 1), {x}, {}, 6);
  REQUIRE(open.ok());
  CHECK((*open)[0].identical(x));
}

TEST_CASE("Clip with only a max bound and integer Relu") {
  Node node = makeNode("Clip", 3);
  node.inputs[1] = "";
  Tensor x = Tensor::fromVector<float>({3}, {-5.0f, 1.0f, 7.0f});
  auto out = runNode(node, {x, Tensor{}, Tensor::scalar(6.0f)}, {2}, 13);
  REQUIRE(out.ok());
  CHECK((*out)[0].values<float>()[0] == -5.0f);
  CHECK((*out)[0].values<float>()[2] == 6.0f);

  auto relu = runNode(makeNode("Relu", 1), {Tensor::fromVector<int32_t>({3}, {-4, 0, 9})});
  REQUIRE(relu.ok());
  CHECK((*relu)[0].values<int32_t>()[0] == 0);
  CHECK((*relu)[0].values<int32_t>()[2] == 9);
  CHECK((*relu)[0].dtype() == DType::I32);
}

TEST_CASE("unary activations reject bad input") {
  Tensor x = randomTensor({2, 3}, 1);
  Tensor xi = Tensor::fromVector<int32_t>({2}, {1, 2});
  CHECK_FALSE(runNode(makeNode("Sigmoid", 1), {xi}).ok());
  CHECK_FALSE(runNode(makeNode("HardSwish", 1), {Tensor::fromVector<int64_t>({1}, {1})}).ok());
  CHECK_FALSE(runNode(makeNode("Relu", 2), {x, x}).ok());
  // Clip bound of another dtype, or not a scalar.
  CHECK_FALSE(runNode(makeNode("Clip", 2), {x, Tensor::scalar<int32_t>(1)}, {1}).ok());
  CHECK_FALSE(runNode(makeNode("Clip", 2), {x, randomTensor({2}, 2)}, {1}).ok());
  // Attribute of the wrong type.
  Attributes attrs;
  attrs.set("alpha", std::string("big"));
  Result<std::vector<Tensor>> bad = runNode(makeNode("LeakyRelu", 1, 1, attrs), {x});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("alpha") != std::string::npos);
  CHECK(bad.error().message.find("test_LeakyRelu") != std::string::npos);
}
