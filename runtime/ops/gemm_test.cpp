// Gemm / FusedGemm: the Eigen kernel against the plain reference over transposes, alpha/beta and
// every C broadcast, the reference against ONNX's test_gemm_* data, and bad models rejected.
#include "runtime/ops/gemm.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "runtime/ops/onnx_testdata_util.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/ops.h"
#include "runtime/ops/reference/gemm.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

Tensor referenceGemm(const Node& node, const std::vector<Tensor>& in, const Activation& activation = {}) {
  bool transA = *node.attributes.getInt("transA", 0) == 1, transB = *node.attributes.getInt("transB", 0) == 1;
  float alpha = *node.attributes.getFloat("alpha", 1.0f), beta = *node.attributes.getFloat("beta", 1.0f);
  int64_t m = transA ? in[0].dim(1) : in[0].dim(0), k = transA ? in[0].dim(0) : in[0].dim(1);
  int64_t n = transB ? in[1].dim(0) : in[1].dim(1);
  const float* c = in.size() > 2 && !in[2].empty() ? in[2].data<float>() : nullptr;
  Shape cs = c ? in[2].shape() : Shape{};
  int64_t cRows = cs.size() == 2 ? cs[0] : 1, cCols = cs.empty() ? 1 : cs.back();
  Tensor y = Tensor::zeros(DType::F32, {m, n});
  reference::gemm(in[0].data<float>(), in[1].data<float>(), c, cRows, cCols, y.data<float>(), m, n, k, transA, transB,
                  alpha, beta, activation);
  return y;
}

}  // namespace

TEST_CASE("gemm reference and kernel match ONNX node tests") {
  for (const char* name : {"test_gemm_all_attributes", "test_gemm_alpha", "test_gemm_beta", "test_gemm_default_matrix_bias",
                           "test_gemm_default_no_bias", "test_gemm_default_scalar_bias",
                           "test_gemm_default_single_elem_vector_bias", "test_gemm_default_vector_bias",
                           "test_gemm_default_zero_bias", "test_gemm_transposeA", "test_gemm_transposeB"}) {
    CAPTURE(name);
    Result<OnnxNodeCase> c = loadOnnxNodeCase(name);
    REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
    CHECK(relativeError(referenceGemm(c->node, c->inputs), c->expected[0]) < 1e-5f);
    Result<std::vector<Tensor>> got = runNode(c->node, c->inputs, {}, c->opset);
    REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
    CHECK(relativeError((*got)[0], c->expected[0]) < 1e-5f);
  }
}

TEST_CASE("gemm kernel matches the reference over transposes, scalars and C broadcasts") {
  ThreadPool pool(2);
  uint32_t seed = 1;
  for (auto [m, n, k] : std::vector<std::array<int64_t, 3>>{{1, 1000, 512}, {7, 13, 5}, {64, 33, 70}, {3, 1, 9}, {1, 1, 1}}) {
    for (int trans = 0; trans < 4; ++trans) {
      for (int cKind = 0; cKind < 7; ++cKind) {
        bool transA = trans & 1, transB = trans & 2;
        Attributes attrs;
        attrs.set("transA", int64_t{transA});
        attrs.set("transB", int64_t{transB});
        attrs.set("alpha", seed % 2 ? 1.0f : 0.7f);
        attrs.set("beta", seed % 3 ? 1.0f : -1.5f);
        std::vector<Shape> cShapes = {{}, {1}, {n}, {1, n}, {m, 1}, {m, n}, {}};
        Node node = makeNode("Gemm", cKind == 0 ? 2 : 3, 1, attrs);
        std::vector<Tensor> in = {randomTensor(transA ? Shape{k, m} : Shape{m, k}, seed),
                                  randomTensor(transB ? Shape{n, k} : Shape{k, n}, seed + 1)};
        if (cKind > 0) in.push_back(randomTensor(cShapes[static_cast<size_t>(cKind)], seed + 2));
        Tensor want = referenceGemm(node, in);
        CAPTURE(fmt::format("m={} n={} k={} transA={} transB={} C={}", m, n, k, transA, transB,
                            cKind > 0 ? shapeString(in[2].shape()) : "none"));
        Result<std::vector<Tensor>> got = runNode(node, in);
        REQUIRE(got.ok());
        CHECK(relativeError((*got)[0], want) < 1e-4f);
        Result<std::vector<Tensor>> threaded = runNode(node, in, {}, 13, RunContext{&pool});
        REQUIRE(threaded.ok());
        CHECK(relativeError((*threaded)[0], want) < 1e-4f);
        ++seed;
      }
    }
  }
}

TEST_CASE("FusedGemm applies its activation") {
  for (auto [name, params] : std::vector<std::pair<std::string, std::vector<float>>>{
           {"Relu", {}}, {"LeakyRelu", {0.2f}}, {"Clip", {-0.5f, 0.5f}}, {"Sigmoid", {}}, {"HardSwish", {}}}) {
    Attributes attrs;
    attrs.set("transB", int64_t{1});
    attrs.set("activation", name);
    attrs.set("activation_params", params);
    Node node = makeNode("FusedGemm", 3, 1, attrs);
    node.domain = "com.microsoft";
    std::vector<Tensor> in = {randomTensor({5, 12}, 1), randomTensor({9, 12}, 2), randomTensor({9}, 3)};
    Tensor want = referenceGemm(node, in, *Activation::fromName(name, params));
    Result<std::vector<Tensor>> got = runNode(node, in);
    REQUIRE(got.ok());
    CAPTURE(name);
    CHECK(relativeError((*got)[0], want) < 1e-5f);
  }
  // ONNX Runtime's own spelling of the LeakyRelu slope.
  Attributes ort;
  ort.set("activation", std::string("LeakyRelu"));
  ort.set("leaky_relu_alpha", 0.3f);
  Node node = makeNode("FusedGemm", 2, 1, ort);
  node.domain = "com.microsoft";
  std::vector<Tensor> in = {randomTensor({4, 6}, 7), randomTensor({6, 3}, 8)};
  Activation leaky = *Activation::fromName("LeakyRelu", {0.3f});
  Result<std::vector<Tensor>> got = runNode(node, in);
  REQUIRE(got.ok());
  CHECK(relativeError((*got)[0], referenceGemm(node, in, leaky)) < 1e-5f);
}

TEST_CASE("gemm reports MACs and rejects bad models") {
  auto prepare = [](const Node& node, std::vector<TensorType> types) {
    std::vector<const Tensor*> constants(types.size(), nullptr);
    return prepareGemm(NodeContext{node, types, constants});
  };
  Result<PreparedNode> ok = prepare(makeNode("Gemm", 2), {{DType::F32, {3, 4}}, {DType::F32, {4, 5}}});
  REQUIRE(ok.ok());
  CHECK(ok->macs == 60);
  CHECK(ok->opClass == OpClass::Gemm);
  CHECK(ok->outputTypes[0].shape == Shape{3, 5});
  CHECK_FALSE(prepare(makeNode("Gemm", 2), {{DType::F32, {3, 4, 1}}, {DType::F32, {4, 5}}}).ok());
  CHECK_FALSE(prepare(makeNode("Gemm", 2), {{DType::F32, {3, 4}}, {DType::F32, {5, 5}}}).ok());
  CHECK_FALSE(prepare(makeNode("Gemm", 3), {{DType::F32, {3, 4}}, {DType::F32, {4, 5}}, {DType::F32, {3}}}).ok());
  CHECK_FALSE(prepare(makeNode("Gemm", 3), {{DType::F32, {3, 4}}, {DType::F32, {4, 5}}, {DType::F32, {2, 5}}}).ok());
  CHECK_FALSE(prepare(makeNode("Gemm", 3), {{DType::F32, {3, 4}}, {DType::F32, {4, 5}}, {DType::F32, {1, 3, 5}}}).ok());
  CHECK_FALSE(prepare(makeNode("Gemm", 2), {{DType::I64, {3, 4}}, {DType::F32, {4, 5}}}).ok());
  Attributes badTrans;
  badTrans.set("transA", int64_t{2});
  CHECK_FALSE(prepare(makeNode("Gemm", 2, 1, badTrans), {{DType::F32, {3, 4}}, {DType::F32, {4, 5}}}).ok());
  Attributes badAct;
  badAct.set("activation", std::string("Gelu"));
  Node fused = makeNode("FusedGemm", 2, 1, badAct);
  fused.domain = "com.microsoft";
  CHECK_FALSE(prepare(fused, {{DType::F32, {3, 4}}, {DType::F32, {4, 5}}}).ok());
}
