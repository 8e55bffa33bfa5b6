#include "runtime/ops/reduce_mean.h"

#include <random>

#include "doctest/doctest.h"
#include "runtime/ops/onnx_testdata_util.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/reference/reduce_mean.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("planReduce coalesces trailing spatial axes into rows") {
  ReducePlan plan = planReduce({1, 8, 7, 7}, {false, false, true, true});
  CHECK(plan.dims == std::vector<int64_t>{8, 49});
  CHECK(plan.reduced == std::vector<char>{0, 1});
  CHECK(plan.count == 49);
  CHECK(plan.outputs == 8);
}

TEST_CASE("ReduceMean matches the reference on random shapes and axes") {
  std::mt19937 engine(11);
  ThreadPool pool(2);
  for (int iter = 0; iter < 300; ++iter) {
    size_t rank = engine() % 6;
    Shape shape(rank);
    for (int64_t& d : shape) d = 1 + static_cast<int64_t>(engine() % 6);
    std::vector<int64_t> axes;
    std::vector<bool> reduced(rank, false);
    for (size_t d = 0; d < rank; ++d)
      if (engine() % 2) {
        // Mix positive and negative spellings of the same axis.
        axes.push_back(engine() % 2 ? static_cast<int64_t>(d) : static_cast<int64_t>(d) - static_cast<int64_t>(rank));
        reduced[d] = true;
      }
    if (axes.empty()) reduced.assign(rank, true);  // no axes: reduce everything
    int64_t keepdims = engine() % 2;
    Attributes attrs;
    if (!axes.empty()) attrs.set("axes", axes);
    attrs.set("keepdims", keepdims);
    Tensor x = randomTensor(shape, engine());
    CAPTURE(shapeString(shape));
    auto out = runNode(makeNode("ReduceMean", 1, 1, attrs), {x}, {}, 13, iter % 3 == 0 ? RunContext{&pool} : RunContext{});
    REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message));
    Shape expectedShape;
    for (size_t d = 0; d < rank; ++d)
      if (!reduced[d] || keepdims) expectedShape.push_back(reduced[d] ? 1 : shape[d]);
    Tensor expected = Tensor::zeros(DType::F32, expectedShape);
    reference::reduceMean(x, reduced, expected);
    CHECK(maxAbsDiff((*out)[0], expected) <= 1e-5f);
  }
}

TEST_CASE("ReduceMean over large trailing axes (the fast row path) on a pool") {
  Attributes attrs;
  attrs.set("axes", std::vector<int64_t>{2, 3});
  Tensor x = randomTensor({2, 64, 14, 14}, 3);
  ThreadPool pool(3);
  auto out = runNode(makeNode("ReduceMean", 1, 1, attrs), {x}, {}, 13, RunContext{&pool});
  REQUIRE(out.ok());
  Tensor expected = Tensor::zeros(DType::F32, {2, 64, 1, 1});
  reference::reduceMean(x, {false, false, true, true}, expected);
  CHECK(maxAbsDiff((*out)[0], expected) <= 1e-5f);
}

TEST_CASE("ReduceMean matches ONNX node tests") {
  for (const char* name : {"test_reduce_mean_default_axes_keepdims_example", "test_reduce_mean_default_axes_keepdims_random",
                           "test_reduce_mean_do_not_keepdims_example", "test_reduce_mean_do_not_keepdims_random",
                           "test_reduce_mean_keepdims_example", "test_reduce_mean_keepdims_random",
                           "test_reduce_mean_negative_axes_keepdims_example",
                           "test_reduce_mean_negative_axes_keepdims_random"}) {
    CAPTURE(name);
    Result<float> diff = runOnnxNodeCase(name);
    REQUIRE_MESSAGE(diff.ok(), (diff.ok() ? "" : diff.error().message));
    CHECK(*diff <= 1e-5f);
  }
}

TEST_CASE("ReduceMean at opset 18 takes constant axes from an input") {
  Tensor x = Tensor::fromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor axes = Tensor::fromVector<int64_t>({1}, {-1});
  auto out = runNode(makeNode("ReduceMean", 2), {x, axes}, {1}, 18);
  REQUIRE(out.ok());
  CHECK((*out)[0].shape() == Shape{2, 1});
  CHECK((*out)[0].values<float>()[0] == 2.0f);
  CHECK((*out)[0].values<float>()[1] == 5.0f);
  // Axes that are not constant cannot be planned.
  CHECK_FALSE(runNode(makeNode("ReduceMean", 2), {x, axes}, {}, 18).ok());
  // noop_with_empty_axes: no axes means identity.
  Attributes noop;
  noop.set("noop_with_empty_axes", int64_t{1});
  auto same = runNode(makeNode("ReduceMean", 1, 1, noop), {x}, {}, 18);
  REQUIRE(same.ok());
  CHECK((*same)[0].identical(x));
}

TEST_CASE("ReduceMean rejects bad input") {
  Tensor x = randomTensor({2, 3}, 1);
  Attributes attrs;
  attrs.set("axes", std::vector<int64_t>{2});
  CHECK_FALSE(runNode(makeNode("ReduceMean", 1, 1, attrs), {x}).ok());
  attrs.set("axes", std::vector<int64_t>{1, -1});
  Result<std::vector<Tensor>> twice = runNode(makeNode("ReduceMean", 1, 1, attrs), {x});
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().message.find("twice") != std::string::npos);
  CHECK_FALSE(runNode(makeNode("ReduceMean", 1), {Tensor::fromVector<int32_t>({2}, {1, 2})}).ok());
  Attributes keep;
  keep.set("keepdims", int64_t{3});
  CHECK_FALSE(runNode(makeNode("ReduceMean", 1, 1, keep), {x}).ok());
  // Axes as an input before opset 18 is one input too many.
  CHECK_FALSE(runNode(makeNode("ReduceMean", 2), {x, Tensor::fromVector<int64_t>({1}, {0})}, {1}, 13).ok());
}
