// The exit decision against a double-precision softmax, and its edges: threshold 0 always
// exits, a threshold above 1 never does, and scores that are not class scores are refused.
#include "agent/exit_rule.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>

namespace cleave::agent {
namespace {

Tensor scores(const std::vector<float>& values) { return Tensor::fromVector<float>({1, static_cast<int64_t>(values.size())}, values); }

double referenceConfidence(const std::vector<float>& values) {
  double top = -INFINITY, sum = 0;
  for (float v : values) top = std::max(top, static_cast<double>(v));
  double best = 0;
  for (float v : values) sum += std::exp(static_cast<double>(v) - top);
  for (float v : values) best = std::max(best, std::exp(static_cast<double>(v) - top) / sum);
  return best;
}

}  // namespace

TEST_CASE("the confidence is the largest softmax probability") {
  std::mt19937 rng(3);
  std::normal_distribution<float> logit(0.0f, 4.0f);
  for (int trial = 0; trial < 1000; ++trial) {
    std::vector<float> values(10);
    for (float& v : values) v = logit(rng);
    Result<float> confidence = maxSoftmax(scores(values));
    REQUIRE(confidence.ok());
    CHECK(*confidence == doctest::Approx(referenceConfidence(values)).epsilon(1e-6));
  }
  CHECK(*maxSoftmax(scores({0.0f, 0.0f})) == 0.5f);
  CHECK(*maxSoftmax(scores({1000.0f, -1000.0f})) == 1.0f);  // no overflow: shifted by the largest
}

TEST_CASE("thresholds: 0 always exits, above 1 never, otherwise at or above") {
  const Tensor even = scores({0.0f, 0.0f, 0.0f, 0.0f});  // confidence 0.25 exactly
  CHECK(*exitsHere(even, 0.0f));
  CHECK(*exitsHere(even, 0.25f));
  CHECK_FALSE(*exitsHere(even, 0.2500001f));
  CHECK_FALSE(*exitsHere(scores({1000.0f, -1000.0f}), 1.01f));
}

TEST_CASE("scores that are not class scores are refused") {
  CHECK_FALSE(maxSoftmax(scores({1.0f})).ok());
  CHECK_FALSE(maxSoftmax(scores({1.0f, NAN})).ok());
  CHECK_FALSE(maxSoftmax(scores({1.0f, INFINITY})).ok());
  CHECK_FALSE(maxSoftmax(Tensor::fromVector<int32_t>({1, 2}, {1, 2})).ok());
}

}  // namespace cleave::agent
