#include "runtime/ops/data_movement.h"

#include <numeric>
#include <random>

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

// copyStrided one element at a time, over int32 values.
void naiveCopy(const int32_t* src, int32_t* dst, const Shape& shape, const std::vector<int64_t>& ss,
               const std::vector<int64_t>& ds) {
  for (int64_t i = 0; i < shapeNumel(shape); ++i) {
    int64_t rest = i, s = 0, d = 0;
    for (size_t k = shape.size(); k-- > 0;) {
      int64_t index = rest % shape[k];
      rest /= shape[k];
      s += index * ss[k];
      d += index * ds[k];
    }
    dst[d] = src[s];
  }
}

}  // namespace

TEST_CASE("copyStrided equals a naive copy for permuted, sliced and padded boxes") {
  std::mt19937 rng(42);
  ThreadPool pool(2);
  for (int trial = 0; trial < 300; ++trial) {
    size_t rank = 1 + rng() % 5;
    Shape shape(rank);
    for (int64_t& d : shape) d = 1 + static_cast<int64_t>(rng() % 6);
    if (trial % 10 == 0) shape.back() = 200;  // big enough to go parallel
    // Source: a permutation of a larger padded buffer; destination: contiguous with an extra gap.
    std::vector<size_t> order(rank);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
    std::vector<int64_t> ss(rank), ds(rank);
    int64_t stride = 1;
    for (size_t k : order) {
      ss[k] = stride;
      stride *= shape[k] + static_cast<int64_t>(rng() % 2);
    }
    int64_t srcSize = stride;
    stride = 1;
    for (size_t k = rank; k-- > 0;) {
      ds[k] = stride;
      stride *= shape[k] + (trial % 3 == 0 ? 1 : 0);
    }
    int64_t dstSize = stride;
    std::vector<int32_t> src(static_cast<size_t>(srcSize));
    std::iota(src.begin(), src.end(), 1);
    std::vector<int32_t> want(static_cast<size_t>(dstSize), -1), got(want), threaded(want);
    naiveCopy(src.data(), want.data(), shape, ss, ds);
    copyStrided(reinterpret_cast<const std::byte*>(src.data()), reinterpret_cast<std::byte*>(got.data()), 4, shape, ss,
                ds, RunContext{});
    copyStrided(reinterpret_cast<const std::byte*>(src.data()), reinterpret_cast<std::byte*>(threaded.data()), 4, shape,
                ss, ds, RunContext{&pool});
    CAPTURE(shapeString(shape));
    CAPTURE(shapeString(ss));
    CAPTURE(shapeString(ds));
    CHECK(got == want);
    CHECK(threaded == want);
  }
}

TEST_CASE("fillElements writes every element size") {
  for (DType dtype : ALL_DTYPES) {
    Tensor value = iotaTensor(dtype, {2});
    Tensor out = Tensor::zeros(dtype, {7});
    const std::byte* one = value.raw() + dtypeSize(dtype);
    fillElements(out.raw(), 7, one, dtypeSize(dtype));
    for (int64_t i = 0; i < 7; ++i)
      CHECK(std::memcmp(out.raw() + i * static_cast<int64_t>(dtypeSize(dtype)), one, dtypeSize(dtype)) == 0);
  }
}

TEST_CASE("constantInts names the input and demands constants") {
  Node node = makeNode("Reshape", 2);
  Tensor shape = i64s({2, 3});
  Tensor floats = Tensor::fromVector<float>({1}, {1});
  std::vector<TensorType> types = {TensorType{DType::F32, {6}}, shape.type()};
  std::vector<const Tensor*> none = {nullptr, nullptr}, given = {nullptr, &shape};
  CHECK(constantInts(NodeContext{node, types, none, 13}, 1, "shape").error().message ==
        "node 'test_Reshape' (Reshape): shape input must be a constant (cleave needs static shapes)");
  CHECK(*constantInts(NodeContext{node, types, given, 13}, 1, "shape") == std::vector<int64_t>{2, 3});
  std::vector<const Tensor*> wrong = {nullptr, &floats};
  CHECK_FALSE(constantInts(NodeContext{node, types, wrong, 13}, 1, "shape").ok());
  CHECK(!optionalConstantInts(NodeContext{node, std::span<const TensorType>(types).first(1), none, 13}, 1, "axes")->has_value());
}
