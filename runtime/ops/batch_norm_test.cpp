// BatchNormalization (inference): ONNX's expected outputs, the per-channel formula on random
// data of several ranks with constant and run-time parameters, and rejected training use.
#include "runtime/ops/batch_norm.h"

#include <cmath>

#include <doctest/doctest.h>

#include "runtime/ops/onnx_testdata_util.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/ops.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("batchnorm matches ONNX node tests") {
  for (const char* name : {"test_batchnorm_example", "test_batchnorm_epsilon"}) {
    CAPTURE(name);
    Result<OnnxNodeCase> c = loadOnnxNodeCase(name);
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    for (std::vector<size_t> constants : {std::vector<size_t>{}, std::vector<size_t>{1, 2, 3, 4}}) {
      Result<std::vector<Tensor>> got = runNode(c->node, c->inputs, constants, c->opset);
      REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
      CHECK(maxAbsDiff((*got)[0], c->expected[0]) < 1e-5f);
    }
  }
}

TEST_CASE("batchnorm training cases are rejected") {
  for (const char* name : {"test_batchnorm_example_training_mode", "test_batchnorm_epsilon_training_mode"}) {
    Result<OnnxNodeCase> c = loadOnnxNodeCase(name);
    REQUIRE(c.ok());
    CHECK_FALSE(runNode(c->node, c->inputs, {}, c->opset).ok());
  }
}

TEST_CASE("batchnorm follows the formula over ranks 2 to 5") {
  uint32_t seed = 3;
  for (Shape shape : std::vector<Shape>{{4, 3}, {2, 5, 7}, {2, 3, 4, 5}, {1, 4, 3, 2, 5}}) {
    int64_t c = shape[1];
    float eps = 1e-3f;
    std::vector<Tensor> in = {randomTensor(shape, seed), randomTensor({c}, seed + 1, 0.5f, 2.0f),
                              randomTensor({c}, seed + 2), randomTensor({c}, seed + 3),
                              randomTensor({c}, seed + 4, 0.1f, 3.0f)};
    Attributes attrs;
    attrs.set("epsilon", eps);
    Tensor want = Tensor::zeros(DType::F32, shape);
    int64_t plane = shapeNumel(shape) / (shape[0] * c);
    for (int64_t i = 0; i < want.numel(); ++i) {
      int64_t ch = (i / plane) % c;
      auto p = [&](size_t input) { return in[input].data<float>()[ch]; };
      want.data<float>()[i] = (in[0].data<float>()[i] - p(3)) / std::sqrt(p(4) + eps) * p(1) + p(2);
    }
    for (std::vector<size_t> constants : {std::vector<size_t>{}, std::vector<size_t>{1, 2, 3, 4}}) {
      Result<std::vector<Tensor>> got = runNode(makeNode("BatchNormalization", 5, 1, attrs), in, constants);
      REQUIRE(got.ok());
      CHECK(maxAbsDiff((*got)[0], want) < 1e-5f);
    }
    seed += 10;
  }
}

TEST_CASE("batchnorm rejects bad models") {
  auto prepare = [](const Node& node, std::vector<TensorType> types) {
    std::vector<const Tensor*> constants(types.size(), nullptr);
    return prepareBatchNormalization(NodeContext{node, types, constants});
  };
  TensorType x{DType::F32, {1, 3, 4, 4}}, p{DType::F32, {3}};
  Result<PreparedNode> ok = prepare(makeNode("BatchNormalization", 5), {x, p, p, p, p});
  REQUIRE(ok.ok());
  CHECK(ok->opClass == OpClass::Elementwise);
  CHECK(ok->macs == 48);
  CHECK_FALSE(prepare(makeNode("BatchNormalization", 5), {x, p, p, p, {DType::F32, {4}}}).ok());
  CHECK_FALSE(prepare(makeNode("BatchNormalization", 5), {{DType::F32, {3}}, p, p, p, p}).ok());
  CHECK_FALSE(prepare(makeNode("BatchNormalization", 4), {x, p, p, p}).ok());
  CHECK_FALSE(prepare(makeNode("BatchNormalization", 5, 3), {x, p, p, p, p}).ok());
  Node unnamedExtras = makeNode("BatchNormalization", 5, 3);
  unnamedExtras.outputs[1] = unnamedExtras.outputs[2] = "";
  CHECK(prepare(unnamedExtras, {x, p, p, p, p}).ok());
  Attributes training;
  training.set("training_mode", int64_t{1});
  CHECK_FALSE(prepare(makeNode("BatchNormalization", 5, 1, training), {x, p, p, p, p}).ok());
}
