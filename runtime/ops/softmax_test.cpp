#include "runtime/ops/softmax.h"

#include <random>

#include "doctest/doctest.h"
#include "runtime/ops/onnx_testdata_util.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/reference/softmax.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Softmax matches the reference on random shapes, axes and opsets") {
  std::mt19937 engine(7);
  ThreadPool pool(2);
  for (int iter = 0; iter < 200; ++iter) {
    size_t rank = 1 + engine() % 4;
    Shape shape(rank);
    for (int64_t& d : shape) d = 1 + static_cast<int64_t>(engine() % 7);
    int64_t axis = static_cast<int64_t>(engine() % (2 * rank)) - static_cast<int64_t>(rank);
    int64_t opset = iter % 2 ? 13 : 11;
    Attributes attrs;
    attrs.set("axis", axis);
    Tensor x = randomTensor(shape, engine(), -10.0f, 10.0f);
    CAPTURE(shapeString(shape));
    CAPTURE(axis);
    CAPTURE(opset);
    auto out = runNode(makeNode("Softmax", 1, 1, attrs), {x}, {}, opset, iter % 3 ? RunContext{} : RunContext{&pool});
    REQUIRE(out.ok());
    int64_t a = axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
    SoftmaxShape s;
    for (int64_t d = 0; d < a; ++d) s.outer *= shape[static_cast<size_t>(d)];
    s.axis = shape[static_cast<size_t>(a)];
    for (size_t d = static_cast<size_t>(a) + 1; d < rank; ++d) (opset >= 13 ? s.inner : s.axis) *= shape[d];
    Tensor expected = Tensor::zeros(DType::F32, shape);
    reference::softmax(s, x.data<float>(), expected.data<float>());
    CHECK(maxAbsDiff((*out)[0], expected) <= 1e-6f);
  }
}

TEST_CASE("Softmax axis defaults differ before and from opset 13") {
  // [2, 2]: opset 13 normalises each row (axis -1); opset 11 (axis 1, coerced 2D) does too, but
  // for [1, 2, 2] opset 11 normalises all four values together while opset 13 does rows of two.
  Tensor x = Tensor::fromVector<float>({1, 2, 2}, {0, 0, 0, 0});
  auto v13 = runNode(makeNode("Softmax", 1), {x}, {}, 13);
  auto v11 = runNode(makeNode("Softmax", 1), {x}, {}, 11);
  REQUIRE(v13.ok());
  REQUIRE(v11.ok());
  CHECK((*v13)[0].values<float>()[0] == doctest::Approx(0.5));
  CHECK((*v11)[0].values<float>()[0] == doctest::Approx(0.25));
}

TEST_CASE("Softmax is stable for large inputs") {
  Tensor x = Tensor::fromVector<float>({1, 3}, {10000.0f, 10001.0f, 10002.0f});
  auto out = runNode(makeNode("Softmax", 1), {x});
  REQUIRE(out.ok());
  std::span<const float> y = (*out)[0].values<float>();
  CHECK(y[2] == doctest::Approx(0.66524096));
  CHECK(y[0] == doctest::Approx(0.09003057));
}

TEST_CASE("Softmax matches ONNX node tests") {
  for (const char* name : {"test_softmax_axis_0", "test_softmax_axis_1", "test_softmax_axis_2", "test_softmax_default_axis",
                           "test_softmax_example", "test_softmax_large_number", "test_softmax_negative_axis"}) {
    CAPTURE(name);
    Result<float> diff = runOnnxNodeCase(name);
    REQUIRE_MESSAGE(diff.ok(), (diff.ok() ? "" : diff.error().message));
    CHECK(*diff <= 1e-6f);
  }
}

TEST_CASE("Softmax rejects bad input") {
  Attributes attrs;
  attrs.set("axis", int64_t{3});
  CHECK_FALSE(runNode(makeNode("Softmax", 1, 1, attrs), {randomTensor({2, 3}, 1)}).ok());
  CHECK_FALSE(runNode(makeNode("Softmax", 1), {Tensor::fromVector<int32_t>({2}, {1, 2})}).ok());
  CHECK_FALSE(runNode(makeNode("Softmax", 1), {Tensor::scalar(1.0f)}).ok());
}
