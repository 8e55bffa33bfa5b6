#include "runtime/ops/slice.h"

#include <random>

#include <doctest/doctest.h>

#include "runtime/ops/reference/slice.h"
#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Slice matches ONNX's test data") {
  for (const char* name : {"test_slice", "test_slice_default_axes", "test_slice_default_steps",
                           "test_slice_end_out_of_bounds", "test_slice_neg", "test_slice_neg_steps",
                           "test_slice_negative_axes", "test_slice_start_out_of_bounds"})
    checkOnnxNodeCase(name, {1, 2, 3, 4});
}

namespace {
std::vector<SliceAxis> plan1(int64_t dim, int64_t start, int64_t end, int64_t step) {
  Result<std::vector<SliceAxis>> plan = slicePlan({dim}, {start}, {end}, {}, {step});
  REQUIRE(plan.ok());
  return *plan;
}
}  // namespace

TEST_CASE("slice plans clamp, wrap negatives and honour INT64 sentinels") {
  auto check = [](std::vector<SliceAxis> p, int64_t start, int64_t step, int64_t count) {
    CHECK(p[0].count == count);
    if (count > 0) {
      CHECK(p[0].start == start);
      CHECK(p[0].step == step);
    }
  };
  check(plan1(10, 2, 8, 3), 2, 3, 2);                      // 2, 5
  check(plan1(10, -3, INT64_MAX, 1), 7, 1, 3);             // 7, 8, 9
  check(plan1(10, INT64_MAX, INT64_MIN, -1), 9, -1, 10);   // reverse everything
  check(plan1(10, -1, -11, -3), 9, -3, 4);                 // 9, 6, 3, 0
  check(plan1(10, 20, 30, 1), 0, 1, 0);                    // past the end: empty
  check(plan1(10, 5, 2, 1), 0, 1, 0);                      // backwards with a positive step: empty
  check(plan1(10, 0, 10, INT64_MAX), 0, 10, 1);            // huge step: one element
  check(plan1(10, 9, INT64_MIN, INT64_MIN), 9, -10, 1);    // huge negative step: one element
  check(plan1(0, 0, 5, 1), 0, 1, 0);
  check(plan1(0, INT64_MAX, INT64_MIN, -1), 0, -1, 0);
  CHECK_FALSE(slicePlan({10}, {0}, {5}, {}, {0}).ok());
  CHECK_FALSE(slicePlan({10, 4}, {0, 0}, {5, 5}, {1, -1}, {}).ok());
  CHECK_FALSE(slicePlan({10}, {0}, {5}, {1}, {}).ok());
  CHECK_FALSE(slicePlan({10}, {0, 1}, {5}, {}, {}).ok());
}

TEST_CASE("fast Slice equals the reference on random boxes and dtypes") {
  std::mt19937 rng(99);
  std::vector<Shape> shapes = {{9}, {4, 7}, {3, 5, 6}, {2, 3, 4, 5}, {1, 8, 9, 10}, {2, 1, 3, 1, 4}};
  for (const Shape& shape : shapes) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<int64_t> starts, ends, axes, steps;
      for (size_t k = 0; k < shape.size(); ++k) {
        if (rng() % 3 == 0) continue;
        int64_t d = shape[k];
        std::uniform_int_distribution<int64_t> index(-d - 2, d + 2);
        starts.push_back(index(rng));
        ends.push_back(rng() % 5 == 0 ? (rng() % 2 ? INT64_MAX : INT64_MIN) : index(rng));
        axes.push_back(rng() % 2 ? static_cast<int64_t>(k) : static_cast<int64_t>(k) - static_cast<int64_t>(shape.size()));
        int64_t step = static_cast<int64_t>(rng() % 3) + 1;
        steps.push_back(rng() % 2 ? step : -step);
      }
      Result<std::vector<SliceAxis>> plan = slicePlan(shape, starts, ends, axes, steps);
      REQUIRE(plan.ok());
      Shape outShape;
      for (const SliceAxis& a : *plan) outShape.push_back(a.count);
      for (DType dtype : ALL_DTYPES) {
        CAPTURE(shapeString(shape));
        CAPTURE(shapeString(starts));
        CAPTURE(shapeString(ends));
        CAPTURE(shapeString(steps));
        Tensor in = iotaTensor(dtype, shape);
        Tensor want = Tensor::zeros(dtype, outShape), got = Tensor::zeros(dtype, outShape);
        reference::slice(in, *plan, want);
        slice(in, *plan, got, RunContext{});
        CHECK(got.identical(want));
      }
    }
  }
}

TEST_CASE("reference Slice matches a hand-computed case") {
  Tensor in = Tensor::fromVector<int32_t>({3, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Result<std::vector<SliceAxis>> plan = slicePlan(in.shape(), {-1, 1}, {INT64_MIN, 4}, {}, {-2, 2});
  REQUIRE(plan.ok());
  Tensor out = Tensor::zeros(DType::I32, {2, 2});
  reference::slice(in, *plan, out);
  CHECK(out.identical(Tensor::fromVector<int32_t>({2, 2}, {9, 11, 1, 3})));
}

TEST_CASE("Slice reads attributes before opset 10 and needs constant inputs from opset 10") {
  Attributes attrs;
  attrs.set("starts", std::vector<int64_t>{1});
  attrs.set("ends", std::vector<int64_t>{-1});
  attrs.set("axes", std::vector<int64_t>{1});
  Tensor in = iotaTensor(DType::F32, {2, 4});
  Result<std::vector<Tensor>> out = runNode(makeNode("Slice", 1, 1, attrs), {in}, {}, 9);
  REQUIRE(out.ok());
  CHECK((*out)[0].identical(Tensor::fromVector<float>({2, 2}, {1, 2, 5, 6})));

  Node node = makeNode("Slice", 3);
  CHECK(prepareError(node, {in, i64s({0}), i64s({1})}, {1}).find("ends input must be a constant") != std::string::npos);
  CHECK(prepareError(node, {in, i64s({0}), i64s({1})}, {1, 2}).empty());
  CHECK(prepareError(makeNode("Slice", 5), {in, i64s({0}), i64s({1}), i64s({0}), i64s({0})}, {1, 2, 3, 4})
            .find("step") != std::string::npos);
}
