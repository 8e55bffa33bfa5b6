// The BLAS under Eigen's products, as cleave's threads use it: concurrent calls from the pool's
// threads must be safe (they were not with Debian's serial OpenBLAS: now and then a threaded
// Winograd or im2col convolution returned garbage), and the BLAS must not start threads of its
// own under a session. Also: threaded convolutions equal the plain reference kernel on every
// one of many runs, for each of the paths that call sgemm from pool threads.
#include "runtime/blas.h"

#include <cmath>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "runtime/ops/conv.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/ops/reference/conv.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("the linked BLAS takes concurrent calls: not a build without locks") {
  const std::string blas = blasDescription();
  INFO("BLAS: " << blas);
  // OpenBLAS reports SINGLE_THREADED for USE_THREAD=0 builds; Debian builds those without
  // USE_LOCKING, so their buffer allocator is unsafe under concurrent calls.
  CHECK(blas.find("SINGLE_THREADED") == std::string::npos);
}

TEST_CASE("a thread pool keeps the BLAS on the calling thread") {
  ThreadPool pool(2);
  CHECK(blasThreads() == 1);
}

TEST_CASE("threaded convolutions equal the reference on every one of many runs") {
  ThreadPool pool(2);
  struct Case {
    const char* path;
    Shape x, w;
    int64_t pad;
  };
  // Winograd (3x3 stride 1, constant W), im2col (5x5) and pointwise (1x1): each splits its GEMMs
  // over the pool, so both threads are inside sgemm at once on nearly every run.
  std::vector<Case> cases = {{"winograd", {2, 32, 14, 14}, {32, 32, 3, 3}, 1},
                             {"im2col", {1, 16, 20, 20}, {32, 16, 5, 5}, 2},
                             {"pointwise", {1, 64, 24, 24}, {64, 64, 1, 1}, 0}};
  constexpr int RUNS = 150;
  uint32_t seed = 91000;
  for (const Case& c : cases) {
    Attributes attributes;
    attributes.set("pads", std::vector<int64_t>{c.pad, c.pad, c.pad, c.pad});
    Result<ConvParams> p = parseConvParams(attributes, c.x, c.w);
    REQUIRE(p.ok());
    Node node = makeNode("Conv", 3, 1, attributes);
    std::vector<Tensor> inputs = {randomTensor(c.x, seed), randomTensor(c.w, seed + 1), randomTensor({c.w[0]}, seed + 2)};
    Tensor want = Tensor::zeros(DType::F32, p->outputShape);
    reference::conv(*p, inputs[0].data<float>(), inputs[1].data<float>(), inputs[2].data<float>(), nullptr,
                    want.data<float>());
    int wrong = 0;
    float worstSeen = 0.0f;
    for (int run = 0; run < RUNS; ++run) {
      Result<std::vector<Tensor>> got = runNode(node, inputs, {1}, 13, RunContext{&pool});
      REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
      float worst = 0.0f;
      const float* g = (*got)[0].data<float>();
      for (int64_t i = 0; i < want.numel(); ++i) {
        float e = std::fabs(g[i] - want.data<float>()[i]) / (1.0f + std::fabs(want.data<float>()[i]));
        worst = std::isnan(e) ? INFINITY : std::max(worst, e);
      }
      worstSeen = std::max(worstSeen, worst);
      if (!(worst <= 1e-4f)) ++wrong;
    }
    CHECK_MESSAGE(wrong == 0, fmt::format("{}: {} of {} threaded runs wrong, worst relative error {}", c.path, wrong,
                                          RUNS, worstSeen));
    seed += 10;
  }
}
