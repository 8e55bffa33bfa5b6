// QuickGelu against the function computed in double precision, over the whole float range that
// networks produce and past it (where exp would overflow or underflow), and as a graph node.
#include "runtime/ops/quick_gelu.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <limits>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/passes/pass_test_util.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

// In double precision, from alpha * x as float arithmetic gives it: the function's condition
// number at x = -40 is 40, so the product's own rounding already moves the result by ~20 ulps
// for any float implementation.
double exact(float x, float alpha) {
  const auto z = static_cast<double>(alpha * x);
  return static_cast<double>(x) / (1.0 + std::exp(-z));
}

}  // namespace

TEST_CASE("quickGelu is within a few ulps of x * sigmoid(alpha x)") {
  std::vector<float> xs;
  for (float x = -120.0f; x <= 120.0f; x += 0.0137f) xs.push_back(x);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 4.0f);
  for (int i = 0; i < 100000; ++i) xs.push_back(normal(rng));
  for (float x : {0.0f, -0.0f, 1e-30f, -1e-30f, 87.0f, -87.0f, 88.5f, -88.5f, 1e6f, -1e6f,
                  std::numeric_limits<float>::max(), std::numeric_limits<float>::lowest()})
    xs.push_back(x);
  using Kernel = void (*)(const float*, float*, int64_t, float);
  for (auto [name, kernel] : {std::pair<const char*, Kernel>{"dispatched", quickGelu},
                              std::pair<const char*, Kernel>{"portable", quickGeluPortable}})
  for (float alpha : {1.0f, QUICK_GELU_DEFAULT_ALPHA, 0.5f}) {
    CAPTURE(name);
    CAPTURE(alpha);
    std::vector<float> ys(xs.size());
    kernel(xs.data(), ys.data(), static_cast<int64_t>(xs.size()), alpha);
    double worstUlps = 0.0;
    float worstX = 0.0f;
    for (size_t i = 0; i < xs.size(); ++i) {
      const double want = exact(xs[i], alpha);
      // Error in units of the float spacing at the exact value, less what the denormals lose
      // (the function is within 1e-40 of zero there).
      const double ulp = std::abs(want) * static_cast<double>(std::numeric_limits<float>::epsilon());
      const double ulps = std::max(0.0, std::abs(static_cast<double>(ys[i]) - want) - 1e-40) / ulp;
      if (ulps > worstUlps) worstUlps = ulps, worstX = xs[i];
    }
    CAPTURE(worstX);
    CHECK(worstUlps <= 4.0);
  }
}

TEST_CASE("quickGelu works in place and on any length") {
  for (int64_t n : {1, 5, 16, 17, 63, 64, 65, 200}) {
    CAPTURE(n);
    std::vector<float> x(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>(i % 13) - 6.0f;
    std::vector<float> expected(x.size()), guard(x.size() + 16, 7.0f);
    quickGeluPortable(x.data(), expected.data(), n, 1.0f);
    quickGelu(x.data(), guard.data(), n, 1.0f);  // writes n values, nothing past them
    for (size_t i = 0; i < x.size(); ++i) CHECK(guard[i] == doctest::Approx(expected[i]).epsilon(1e-6));
    for (size_t i = x.size(); i < guard.size(); ++i) CHECK(guard[i] == 7.0f);
    quickGelu(x.data(), x.data(), n, 1.0f);
    CHECK(std::equal(x.begin(), x.end(), guard.begin()));
  }
}

TEST_CASE("a QuickGelu node computes x * sigmoid(alpha x), alpha defaulting to ONNX Runtime's 1.702") {
  for (bool withAlpha : {false, true}) {
    CAPTURE(withAlpha);
    Graph graph = graphWithInput("x", {2, 3, 4, 5});
    addNode(graph, "QuickGelu", {"x"}, {"y"}, withAlpha ? attrs({{"alpha", 1.0f}}) : Attributes{}, "com.microsoft");
    graph.outputs.push_back({"y", {}});
    std::vector<Tensor> inputs = randomInputs(graph, 1);
    Tensor y = runGraph(graph, inputs)[0];
    const float alpha = withAlpha ? 1.0f : 1.702f;
    const float* x = inputs[0].data<float>();
    for (int64_t i = 0; i < y.numel(); ++i)
      CHECK(static_cast<double>(y.data<float>()[i]) ==
            doctest::Approx(exact(x[i], alpha)).epsilon(1e-6));
  }
}
