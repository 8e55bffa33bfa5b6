// The AVX-512 Add against cleave_q_add: byte for byte over random scales, zero points and lengths.
#include "runtime/int8_fast/add.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace cleave;

TEST_CASE("AVX-512 Add is byte-identical to the reference") {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> exponent(-8.0, 2.0);
  int64_t elements = 0;
  for (int trial = 0; trial < 500; ++trial) {
    cleave_q_add_params params{};
    auto zero = [&] { return static_cast<int32_t>(rng() % 256) - 128; };
    cleave_q_add_prepare(std::pow(2.0, exponent(rng)), zero(), std::pow(2.0, exponent(rng)), zero(),
                         std::pow(2.0, exponent(rng)), zero(), &params);
    if (trial % 4 == 0) params.activation_min = params.output_zero_point;  // a fused Relu
    const auto count = static_cast<int64_t>(rng() % 300);
    std::vector<int8_t> a(static_cast<size_t>(count)), b(a.size()), expected(a.size()), actual(a.size(), 5);
    for (size_t i = 0; i < a.size(); ++i) {
      a[i] = static_cast<int8_t>(rng() & 0xFF);
      b[i] = static_cast<int8_t>(rng() & 0xFF);
    }
    cleave_q_add(count, a.data(), b.data(), &params, expected.data());
    int8fast::add(count, a.data(), b.data(), params, actual.data());
    INFO("trial " << trial << ", " << count << " elements");
    REQUIRE(actual == expected);
    elements += count;
  }
  MESSAGE(elements << " sums identical");
}
