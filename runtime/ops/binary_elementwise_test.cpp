#include "runtime/ops/binary_elementwise.h"

#include <limits>
#include <random>

#include "doctest/doctest.h"
#include "runtime/ops/onnx_testdata_util.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/reference/binary_elementwise.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

template <class T>
Tensor randomOf(const Shape& shape, std::mt19937& engine) {
  if constexpr (std::is_same_v<T, float>) {
    return randomTensor(shape, engine(), -2.0f, 2.0f);
  } else {
    std::uniform_int_distribution<int> dist(-20, 20);
    Tensor t = Tensor::zeros(dtypeOf<T>(), shape);
    for (T& v : t.values<T>()) v = static_cast<T>(dist(engine));
    return t;
  }
}

// Output shape plus two input shapes that broadcast to it: each input drops some leading dims
// and sets some of the rest to 1.
struct ShapeTriple {
  Shape out, a, b;
};
ShapeTriple randomBroadcastShapes(std::mt19937& engine) {
  std::uniform_int_distribution<int> rankDist(0, 5), dimDist(1, 6), coin(0, 2);
  ShapeTriple s;
  s.out.resize(static_cast<size_t>(rankDist(engine)));
  for (int64_t& d : s.out) d = dimDist(engine);
  auto derive = [&]() {
    Shape in = s.out;
    for (int64_t& d : in)
      if (coin(engine) == 0) d = 1;
    size_t drop = std::uniform_int_distribution<size_t>(0, in.size())(engine);
    if (coin(engine) != 0) drop = 0;
    return Shape(in.begin() + static_cast<ptrdiff_t>(drop), in.end());
  };
  s.a = derive();
  s.b = derive();
  // Ensure the output really is their broadcast: drop leading dims neither input reaches and
  // set to 1 the dims neither input carries.
  size_t rank = std::max(s.a.size(), s.b.size());
  s.out.erase(s.out.begin(), s.out.begin() + static_cast<ptrdiff_t>(s.out.size() - rank));
  for (size_t d = 0; d < s.out.size(); ++d) {
    size_t fromEnd = s.out.size() - d;
    bool aHas = fromEnd <= s.a.size() && s.a[s.a.size() - fromEnd] != 1;
    bool bHas = fromEnd <= s.b.size() && s.b[s.b.size() - fromEnd] != 1;
    if (!aHas && !bHas) s.out[d] = 1;
  }
  return s;
}

template <class T>
void compareRandom(BinaryOp op, const char* opType, uint32_t seed) {
  std::mt19937 engine(seed);
  ThreadPool pool(3);
  for (int iter = 0; iter < 150; ++iter) {
    ShapeTriple s = randomBroadcastShapes(engine);
    Tensor a = randomOf<T>(s.a, engine), b = randomOf<T>(s.b, engine);
    CAPTURE(shapeString(s.a));
    CAPTURE(shapeString(s.b));
    Tensor expected = Tensor::zeros(dtypeOf<T>(), s.out);
    reference::binaryElementwise<T>(op, a, b, expected);
    auto out = runNode(makeNode(opType, 2), {a, b});
    REQUIRE(out.ok());
    CHECK((*out)[0].identical(expected));
    // Ranges that start and end mid-row, as thread chunks do.
    BroadcastPlan plan = planBroadcast(s.a, s.b, s.out);
    Tensor pieces = Tensor::zeros(dtypeOf<T>(), s.out);
    int64_t step = 1 + static_cast<int64_t>(engine() % 7);
    for (int64_t begin = 0; begin < plan.numel; begin += step)
      runBinaryRange<T>(op, plan, a.data<T>(), b.data<T>(), pieces.data<T>(), begin, std::min(plan.numel, begin + step));
    CHECK(pieces.identical(expected));
    // On a pool, with big enough shapes to split.
    if (iter % 10 == 0) {
      Shape big = {40000};
      Tensor x = randomOf<T>(big, engine), y = randomOf<T>({1}, engine);
      auto pooled = runNode(makeNode(opType, 2), {x, y}, {}, 13, RunContext{&pool});
      Tensor ref = Tensor::zeros(dtypeOf<T>(), big);
      reference::binaryElementwise<T>(op, x, y, ref);
      REQUIRE(pooled.ok());
      CHECK((*pooled)[0].identical(ref));
    }
  }
}

}  // namespace

TEST_CASE("planBroadcast coalesces to the fast cases") {
  BroadcastPlan same = planBroadcast({2, 3, 4}, {2, 3, 4}, {2, 3, 4});
  CHECK(same.dims == std::vector<int64_t>{24});
  CHECK(same.stridesA == std::vector<int64_t>{1});
  CHECK(same.stridesB == std::vector<int64_t>{1});

  BroadcastPlan scalar = planBroadcast({2, 3, 4}, {}, {2, 3, 4});
  CHECK(scalar.dims == std::vector<int64_t>{24});
  CHECK(scalar.stridesB == std::vector<int64_t>{0});

  BroadcastPlan channel = planBroadcast({1, 8, 5, 5}, {8, 1, 1}, {1, 8, 5, 5});
  CHECK(channel.dims == std::vector<int64_t>{8, 25});
  CHECK(channel.stridesA == std::vector<int64_t>{25, 1});
  CHECK(channel.stridesB == std::vector<int64_t>{1, 0});

  BroadcastPlan outer = planBroadcast({3, 1}, {1, 4}, {3, 4});
  CHECK(outer.dims == std::vector<int64_t>{3, 4});
  CHECK(outer.stridesA == std::vector<int64_t>{1, 0});
  CHECK(outer.stridesB == std::vector<int64_t>{0, 1});

  BroadcastPlan one = planBroadcast({1, 1}, {1}, {1, 1});
  CHECK(one.dims == std::vector<int64_t>{1});
}

TEST_CASE("fast broadcast matches the reference on random shapes") {
  compareRandom<float>(BinaryOp::Add, "Add", 1);
  compareRandom<float>(BinaryOp::Sub, "Sub", 2);
  compareRandom<float>(BinaryOp::Mul, "Mul", 3);
  compareRandom<float>(BinaryOp::Div, "Div", 4);
  compareRandom<int32_t>(BinaryOp::Add, "Add", 5);
  compareRandom<int32_t>(BinaryOp::Div, "Div", 6);
  compareRandom<int64_t>(BinaryOp::Mul, "Mul", 7);
  compareRandom<int64_t>(BinaryOp::Div, "Div", 8);
  compareRandom<int64_t>(BinaryOp::Sub, "Sub", 9);
}

TEST_CASE("integer Div truncates toward zero and never traps") {
  Tensor a = Tensor::fromVector<int32_t>({6}, {-7, 7, 7, -7, 5, std::numeric_limits<int32_t>::min()});
  Tensor b = Tensor::fromVector<int32_t>({6}, {2, -2, 2, -2, 0, -1});
  auto out = runNode(makeNode("Div", 2), {a, b});
  REQUIRE(out.ok());
  std::span<const int32_t> v = (*out)[0].values<int32_t>();
  CHECK(v[0] == -3);
  CHECK(v[1] == -3);
  CHECK(v[2] == 3);
  CHECK(v[3] == 3);
  CHECK(v[4] == 0);  // division by zero: defined as 0
  CHECK(v[5] == std::numeric_limits<int32_t>::min());  // wraps instead of trapping
  CHECK(applyBinaryOp<int64_t>(BinaryOp::Div, std::numeric_limits<int64_t>::min(), -1) ==
        std::numeric_limits<int64_t>::min());
  CHECK(applyBinaryOp<uint8_t>(BinaryOp::Div, 200, 255) == 0);
}

TEST_CASE("binary ops match ONNX node tests") {
  for (const char* name : {"test_add", "test_add_bcast", "test_add_uint8", "test_sub", "test_sub_bcast",
                           "test_sub_example", "test_sub_uint8", "test_mul", "test_mul_bcast", "test_mul_example",
                           "test_mul_uint8", "test_div", "test_div_bcast", "test_div_example", "test_div_uint8"}) {
    CAPTURE(name);
    Result<float> diff = runOnnxNodeCase(name);
    REQUIRE_MESSAGE(diff.ok(), (diff.ok() ? "" : diff.error().message));
    CHECK(*diff <= 1e-6f);
  }
}

TEST_CASE("constant inputs fold at prepare time") {
  Node node = makeNode("Mul", 2);
  Tensor a = Tensor::fromVector<int64_t>({2}, {3, 4});
  Tensor b = Tensor::scalar<int64_t>(-2);
  std::vector<TensorType> types = {a.type(), b.type()};
  std::vector<const Tensor*> constants = {&a, &b};
  NodeContext ctx{node, types, constants, 13};
  Result<PreparedNode> prepared = prepareBinaryElementwise(ctx);
  REQUIRE(prepared.ok());
  REQUIRE(prepared->constantOutputs.has_value());
  CHECK((*prepared->constantOutputs)[0].identical(Tensor::fromVector<int64_t>({2}, {-6, -8})));
  CHECK(prepared->macs == 2);
  CHECK(prepared->opClass == OpClass::Elementwise);
}

TEST_CASE("binary ops reject bad input") {
  Tensor x = randomTensor({2, 3}, 1);
  Result<std::vector<Tensor>> mismatch = runNode(makeNode("Add", 2), {x, randomTensor({4}, 2)});
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().message.find("broadcast") != std::string::npos);
  CHECK_FALSE(runNode(makeNode("Add", 2), {x, Tensor::fromVector<int32_t>({3}, {1, 2, 3})}).ok());
  CHECK_FALSE(runNode(makeNode("Mul", 2), {Tensor::fromVector<bool>({1}, {true}), Tensor::fromVector<bool>({1}, {true})}).ok());
  CHECK_FALSE(runNode(makeNode("Sub", 1), {x}).ok());
  Attributes legacy;
  legacy.set("broadcast", int64_t{1});
  CHECK_FALSE(runNode(makeNode("Add", 2, 1, legacy), {x, x}).ok());
}
