// MatMul: the Eigen kernel against the plain reference over 1-D operands and batch broadcasting,
// the reference against ONNX's test_matmul_* data, and bad shapes rejected.
#include "runtime/ops/matmul.h"

#include <doctest/doctest.h>

#include "runtime/ops/onnx_testdata_util.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/ops.h"
#include "runtime/ops/reference/gemm.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;


TEST_CASE("matmul reference and kernel match ONNX node tests") {
  for (const char* name : {"test_matmul_2d", "test_matmul_3d", "test_matmul_4d"}) {
    CAPTURE(name);
    Result<OnnxNodeCase> c = loadOnnxNodeCase(name);
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    CHECK(relativeError(reference::matmul(c->inputs[0], c->inputs[1]), c->expected[0]) < 1e-5f);
    Result<std::vector<Tensor>> got = runNode(c->node, c->inputs, {}, c->opset);
    REQUIRE(got.ok());
    CHECK(relativeError((*got)[0], c->expected[0]) < 1e-5f);
  }
}

TEST_CASE("matmul kernel matches the reference over 1-D operands and broadcasting") {
  ThreadPool pool(2);
  std::vector<std::pair<Shape, Shape>> cases = {
      {{5}, {5}},           {{5}, {5, 3}},          {{4, 5}, {5}},          {{2, 3, 4, 5}, {5}},
      {{5}, {2, 5, 3}},     {{7, 5}, {5, 3}},       {{1, 300}, {300, 200}}, {{2, 3, 4, 5}, {5, 6}},
      {{3, 4, 5}, {3, 5, 6}}, {{3, 4, 5}, {1, 5, 6}}, {{1, 4, 5}, {3, 5, 6}}, {{2, 1, 4, 5}, {3, 5, 6}},
      {{4, 5}, {2, 3, 5, 6}}, {{2, 1, 4, 5}, {1, 3, 5, 2}}, {{6, 1, 8}, {1, 1, 8, 9}}, {{0, 4, 5}, {5, 3}},
      {{4, 0}, {0, 3}}};
  uint32_t seed = 10;
  for (const auto& [a, b] : cases) {
    std::vector<Tensor> in = {randomTensor(a, seed), randomTensor(b, seed + 1)};
    Tensor want = reference::matmul(in[0], in[1]);
    CAPTURE(shapeString(a));
    CAPTURE(shapeString(b));
    Result<std::vector<Tensor>> got = runNode(makeNode("MatMul", 2), in);
    REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
    CHECK(relativeError((*got)[0], want) < 1e-4f);
    Result<std::vector<Tensor>> threaded = runNode(makeNode("MatMul", 2), in, {}, 13, RunContext{&pool});
    REQUIRE(threaded.ok());
    CHECK(relativeError((*threaded)[0], want) < 1e-4f);
    seed += 2;
  }
}

TEST_CASE("matmul shapes, MACs and bad input") {
  auto prepare = [](std::vector<TensorType> types) {
    std::vector<const Tensor*> constants(types.size(), nullptr);
    return prepareMatMul(NodeContext{makeNode("MatMul", 2), types, constants});
  };
  Result<PreparedNode> p = prepare({{DType::F32, {2, 1, 4, 5}}, {DType::F32, {3, 5, 6}}});
  REQUIRE(p.ok());
  CHECK(p->outputTypes[0].shape == Shape{2, 3, 4, 6});
  CHECK(p->macs == 2 * 3 * 4 * 6 * 5);
  CHECK(p->opClass == OpClass::Gemm);
  p = prepare({{DType::F32, {5}}, {DType::F32, {5}}});
  REQUIRE(p.ok());
  CHECK(p->outputTypes[0].shape == Shape{});
  CHECK_FALSE(prepare({{DType::F32, {4, 5}}, {DType::F32, {4, 5}}}).ok());
  CHECK_FALSE(prepare({{DType::F32, {2, 4, 5}}, {DType::F32, {3, 5, 6}}}).ok());
  CHECK_FALSE(prepare({{DType::F32, {}}, {DType::F32, {3}}}).ok());
  CHECK_FALSE(prepare({{DType::I64, {2, 2}}, {DType::F32, {2, 2}}}).ok());
}
