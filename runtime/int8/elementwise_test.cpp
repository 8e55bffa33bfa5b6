// int8 Add, Mul, pooling and the float boundaries against their definitions written out here
// in double precision (Add, Mul: ONNX's QDQ meaning, dequantise, operate, quantise), or in
// plain integers (pooling, where no scale changes).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/int8/fixed_point.h"
#include "runtime/int8/kernels.h"
#include "runtime/int8/rounding_check.h"

namespace cleave::int8 {
namespace {

std::vector<int8_t> randomInt8(std::mt19937_64& rng, size_t count) {
  std::uniform_int_distribution<int> value(-128, 127);
  std::vector<int8_t> v(count);
  for (int8_t& x : v) x = static_cast<int8_t>(value(rng));
  return v;
}

}  // namespace

TEST_CASE("int8 Add brings both inputs to one scale, as dequantise-add-quantise would") {
  std::mt19937_64 rng(152);
  int64_t elements = 0, near = 0;
  std::uniform_real_distribution<double> scale(0.01, 0.1);
  std::uniform_int_distribution<int32_t> zeroPoint(-128, 127);
  for (int trial = 0; trial < 300; ++trial) {
    const double s1 = scale(rng), s2 = scale(rng), so = scale(rng) * 2;
    const int32_t z1 = zeroPoint(rng), z2 = zeroPoint(rng), zo = zeroPoint(rng);
    cleave_q_add_params p;
    cleave_q_add_prepare(s1, z1, s2, z2, so, zo, &p);
    const size_t n = 200;
    std::vector<int8_t> a = randomInt8(rng, n), b = randomInt8(rng, n), y(n);
    cleave_q_add(static_cast<int64_t>(n), a.data(), b.data(), &p, y.data());
    for (size_t i = 0; i < n; ++i) {
      const double exact = zo + ((a[i] - z1) * s1 + (b[i] - z2) * s2) / so;
      near += checkRounded(exact, -128, 127, y[i], 1e-3);
      ++elements;
    }
  }
  CHECK(near < elements / 100);
}

TEST_CASE("int8 Mul requantises the product of the offset inputs") {
  std::mt19937_64 rng(153);
  std::uniform_real_distribution<double> scale(0.01, 0.1);
  std::uniform_int_distribution<int32_t> zeroPoint(-128, 127);
  for (int trial = 0; trial < 300; ++trial) {
    const double s1 = scale(rng), s2 = scale(rng), so = scale(rng) * 30;
    const int32_t z1 = zeroPoint(rng), z2 = zeroPoint(rng), zo = zeroPoint(rng);
    int32_t multiplier = 0;
    int shift = 0;
    cleave_q_quantize_multiplier(s1 * s2 / so, &multiplier, &shift);
    const cleave_q_requant requant{&multiplier, &shift, zo, -128, 127};
    const size_t n = 200;
    std::vector<int8_t> a = randomInt8(rng, n), b = randomInt8(rng, n), y(n);
    cleave_q_mul(static_cast<int64_t>(n), a.data(), z1, b.data(), z2, &requant, y.data());
    for (size_t i = 0; i < n; ++i)
      checkRounded(zo + (a[i] - z1) * s1 * (b[i] - z2) * s2 / so, -128, 127, y[i], firstRoundingSlack(shift));
  }
}

TEST_CASE("int8 max and average pooling over NHWC, padding left out") {
  std::mt19937_64 rng(154);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng); };
  for (int trial = 0; trial < 300; ++trial) {
    cleave_q_pool_shape s{};
    s.batch = pick(1, 2);
    s.in_height = pick(1, 8);
    s.in_width = pick(1, 8);
    s.channels = pick(1, 5);
    s.kernel_height = pick(1, 3);
    s.kernel_width = pick(1, 3);
    s.stride_height = pick(1, 3);
    s.stride_width = pick(1, 3);
    s.pad_top = pick(0, s.kernel_height - 1);
    s.pad_left = pick(0, s.kernel_width - 1);
    s.out_height = (s.in_height + 2 * s.pad_top - s.kernel_height) / s.stride_height + 1;
    s.out_width = (s.in_width + 2 * s.pad_left - s.kernel_width) / s.stride_width + 1;
    if (s.out_height < 1 || s.out_width < 1) continue;
    s.activation_min = rng() % 3 == 0 ? pick(-128, 0) : -128;  // sometimes a fused Relu's clamp
    s.activation_max = 127;
    const std::vector<int8_t> x = randomInt8(rng, static_cast<size_t>(s.batch * s.in_height * s.in_width * s.channels));
    const size_t outCount = static_cast<size_t>(s.batch * s.out_height * s.out_width * s.channels);
    std::vector<int8_t> maxOut(outCount), averageOut(outCount);
    cleave_q_max_pool(&s, x.data(), maxOut.data());
    cleave_q_average_pool(&s, x.data(), averageOut.data());
    for (int32_t n = 0; n < s.batch; ++n)
      for (int32_t oy = 0; oy < s.out_height; ++oy)
        for (int32_t ox = 0; ox < s.out_width; ++ox)
          for (int32_t c = 0; c < s.channels; ++c) {
            int best = std::numeric_limits<int>::min(), taps = 0;
            double sum = 0;
            for (int32_t ky = 0; ky < s.kernel_height; ++ky)
              for (int32_t kx = 0; kx < s.kernel_width; ++kx) {
                const int32_t y = oy * s.stride_height - s.pad_top + ky, xx = ox * s.stride_width - s.pad_left + kx;
                if (y < 0 || xx < 0 || y >= s.in_height || xx >= s.in_width) continue;
                const int v = x[static_cast<size_t>(((n * s.in_height + y) * s.in_width + xx) * s.channels + c)];
                best = std::max(best, v);
                sum += v;
                ++taps;
              }
            REQUIRE(taps > 0);
            const size_t at = static_cast<size_t>(((n * s.out_height + oy) * s.out_width + ox) * s.channels + c);
            CHECK(maxOut[at] == std::clamp(best, s.activation_min, s.activation_max));
            // std::round takes halves away from zero, as TFLM's average does.
            CHECK(averageOut[at] == std::clamp(static_cast<int>(std::round(sum / taps)), s.activation_min, s.activation_max));
          }
  }
}

TEST_CASE("QuantizeLinear and DequantizeLinear as ONNX defines them") {
  std::mt19937_64 rng(155);
  std::uniform_real_distribution<float> value(-10.0f, 10.0f);
  for (int trial = 0; trial < 100; ++trial) {
    const float scale = std::uniform_real_distribution<float>(0.01f, 0.2f)(rng);
    const int32_t zeroPoint = std::uniform_int_distribution<int32_t>(-128, 127)(rng);
    std::vector<float> x(500);
    for (float& v : x) v = value(rng);
    std::vector<int8_t> q(x.size());
    std::vector<float> back(x.size());
    cleave_q_quantize(static_cast<int64_t>(x.size()), x.data(), scale, zeroPoint, q.data());
    cleave_q_dequantize(static_cast<int64_t>(q.size()), q.data(), scale, zeroPoint, back.data());
    for (size_t i = 0; i < x.size(); ++i) {
      const double scaled = static_cast<double>(x[i]) / static_cast<double>(scale);
      if (std::abs(scaled - std::floor(scaled) - 0.5) < 1e-4) continue;  // a float-vs-double tie
      const double expected = std::clamp(std::round(scaled) + zeroPoint, -128.0, 127.0);
      CHECK(q[i] == expected);
      CHECK(back[i] == static_cast<float>(q[i] - zeroPoint) * scale);
    }
  }
  // Halves to even, saturation, NaN.
  const std::vector<float> edges{2.5f, 3.5f, -2.5f, -3.5f, 0.5f, 1000.0f, -1000.0f, std::nanf("")};
  std::vector<int8_t> q(edges.size());
  cleave_q_quantize(static_cast<int64_t>(edges.size()), edges.data(), 1.0f, 0, q.data());
  CHECK(q == std::vector<int8_t>{2, 4, -2, -4, 0, 127, -128, 0});
  cleave_q_quantize(1, edges.data(), 1.0f, 10, q.data());
  CHECK(q[0] == 12);
}

}  // namespace cleave::int8
