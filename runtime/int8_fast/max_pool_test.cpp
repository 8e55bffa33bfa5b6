// The AVX-512 max pool against cleave_q_max_pool: byte for byte over random windows, strides,
// padding, channel counts (inside and beyond 64) and clamps.
#include "runtime/int8_fast/max_pool.h"

#include <doctest/doctest.h>

#include <random>
#include <vector>

using namespace cleave;

TEST_CASE("AVX-512 max pool is byte-identical to the reference") {
  std::mt19937 rng(5);
  int64_t outputs = 0;
  for (int trial = 0; trial < 400; ++trial) {
    cleave_q_pool_shape s{};
    s.batch = 1 + static_cast<int32_t>(rng() % 2);
    s.in_height = 1 + static_cast<int32_t>(rng() % 12);
    s.in_width = 1 + static_cast<int32_t>(rng() % 12);
    s.channels = 1 + static_cast<int32_t>(rng() % 150);
    s.kernel_height = 1 + static_cast<int32_t>(rng() % 4);
    s.kernel_width = 1 + static_cast<int32_t>(rng() % 4);
    s.stride_height = 1 + static_cast<int32_t>(rng() % 3);
    s.stride_width = 1 + static_cast<int32_t>(rng() % 3);
    s.pad_top = static_cast<int32_t>(rng() % static_cast<uint32_t>(s.kernel_height));
    s.pad_left = static_cast<int32_t>(rng() % static_cast<uint32_t>(s.kernel_width));
    s.out_height = (s.in_height + 2 * s.pad_top - s.kernel_height) / s.stride_height + 1;
    s.out_width = (s.in_width + 2 * s.pad_left - s.kernel_width) / s.stride_width + 1;
    if (s.out_height < 1 || s.out_width < 1) continue;
    s.activation_min = trial % 3 == 0 ? static_cast<int32_t>(rng() % 256) - 128 : -128;
    s.activation_max = trial % 5 == 0 ? std::max(s.activation_min, static_cast<int32_t>(rng() % 256) - 128) : 127;
    std::vector<int8_t> input(static_cast<size_t>(s.batch * s.in_height * s.in_width * s.channels));
    for (int8_t& v : input) v = static_cast<int8_t>(rng() & 0xFF);
    const size_t count = static_cast<size_t>(s.batch * s.out_height * s.out_width * s.channels);
    std::vector<int8_t> expected(count), actual(count, 3);
    cleave_q_max_pool(&s, input.data(), expected.data());
    int8fast::maxPool(s, input.data(), actual.data());
    INFO("trial " << trial);
    REQUIRE(actual == expected);
    outputs += static_cast<int64_t>(count);
  }
  MESSAGE(outputs << " outputs identical");
}
