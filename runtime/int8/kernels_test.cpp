// The int8 reference kernels against a second implementation written here from ONNX's
// definition of Conv (NCHW input, OIHW weights, explicit pads on all four sides) in double
// precision: zero_point_out + (bias + sum (x - zero_point_in) * w) * s_in * s_w[c] / s_out,
// rounded once and clamped. The kernels round twice in fixed point (TFLM), so they may differ
// by one step, and only where the exact value is near a half: the first rounding (the doubling
// high multiply) is to 2^shift of an output step when the shift is negative (a right shift),
// so it can move a value by up to half of that across a half.
#include "runtime/int8/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/int8/fixed_point.h"
#include "runtime/int8/rounding_check.h"

namespace cleave::int8 {
namespace {


struct Quantisation {
  double inputScale = 0, outputScale = 0;
  std::vector<double> weightScales;  // per output channel
  int32_t inputZeroPoint = 0, outputZeroPoint = 0, low = -128, high = 127;
  std::vector<int32_t> multipliers;
  std::vector<int> shifts;

  cleave_q_requant requant() const {
    return {multipliers.data(), shifts.data(), outputZeroPoint, low, high};
  }
};

Quantisation randomQuantisation(std::mt19937_64& rng, int32_t channels, int32_t taps) {
  Quantisation q;
  std::uniform_int_distribution<int32_t> zeroPoint(-128, 127);
  q.inputScale = std::uniform_real_distribution<double>(0.005, 0.05)(rng);
  q.inputZeroPoint = zeroPoint(rng);
  q.outputZeroPoint = zeroPoint(rng);
  for (int32_t c = 0; c < channels; ++c) q.weightScales.push_back(std::uniform_real_distribution<double>(0.002, 0.02)(rng));
  // An output scale that spreads the accumulators over the int8 range (some clamp).
  const double typical = std::sqrt(static_cast<double>(taps)) * 60 * 60;
  q.outputScale = q.inputScale * q.weightScales[0] * typical / 40;
  if (rng() % 3 == 0) q.low = q.outputZeroPoint;  // a fused Relu
  for (int32_t c = 0; c < channels; ++c) {
    int32_t m = 0;
    int s = 0;
    cleave_q_quantize_multiplier(q.inputScale * q.weightScales[static_cast<size_t>(c)] / q.outputScale, &m, &s);
    q.multipliers.push_back(m);
    q.shifts.push_back(s);
  }
  return q;
}

struct Comparison {
  int64_t elements = 0, exact = 0, nearHalf = 0;
};

// One output of the double-precision reference against the kernel's, into the tallies.
void compare(double accumulator, size_t channel, const Quantisation& q, int8_t got, Comparison& tally) {
  const double real = q.outputZeroPoint +
                      accumulator * q.inputScale * q.weightScales[channel] / q.outputScale;
  CAPTURE(channel);
  ++tally.elements;
  tally.nearHalf += checkRounded(real, q.low, q.high, got, firstRoundingSlack(q.shifts[channel]));
  tally.exact += got == std::clamp(std::round(real), static_cast<double>(q.low), static_cast<double>(q.high));
}

}  // namespace

TEST_CASE("int8 convolution (grouped, depthwise, strided, dilated, padded) against ONNX's definition") {
  std::mt19937_64 rng(150);
  Comparison tally;
  int depthwise = 0, grouped = 0;
  for (int trial = 0; trial < 400; ++trial) {
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int32_t>(lo, hi)(rng); };
    cleave_q_conv_shape s{};
    s.batch = pick(1, 2);
    s.in_height = pick(1, 9);
    s.in_width = pick(1, 9);
    const int kind = pick(0, 2);  // ordinary, grouped, depthwise
    const int32_t perGroupIn = kind == 2 ? 1 : pick(1, 6);
    s.groups = kind == 0 ? 1 : pick(2, 4);
    s.in_channels = perGroupIn * s.groups;
    s.out_channels = s.groups * (kind == 2 ? pick(1, 2) : pick(1, 5));
    s.kernel_height = pick(1, 3);
    s.kernel_width = pick(1, 3);
    s.stride_height = pick(1, 2);
    s.stride_width = pick(1, 2);
    s.dilation_height = pick(1, 2);
    s.dilation_width = pick(1, 2);
    s.pad_top = pick(0, 2);
    s.pad_left = pick(0, 2);
    const int32_t padBottom = pick(0, 2), padRight = pick(0, 2);
    s.out_height = (s.in_height + s.pad_top + padBottom - s.dilation_height * (s.kernel_height - 1) - 1) / s.stride_height + 1;
    s.out_width = (s.in_width + s.pad_left + padRight - s.dilation_width * (s.kernel_width - 1) - 1) / s.stride_width + 1;
    if (s.out_height < 1 || s.out_width < 1) continue;
    depthwise += kind == 2;
    grouped += kind == 1;
    const int32_t taps = s.kernel_height * s.kernel_width * perGroupIn;
    Quantisation q = randomQuantisation(rng, s.out_channels, taps);
    s.input_zero_point = q.inputZeroPoint;

    // ONNX's layouts, then the kernel's.
    std::uniform_int_distribution<int> int8(-128, 127), weight(-127, 127);
    const size_t inputCount = static_cast<size_t>(s.batch * s.in_channels * s.in_height * s.in_width);
    std::vector<int8_t> nchw(inputCount), oihw(static_cast<size_t>(s.out_channels * taps));
    for (int8_t& v : nchw) v = static_cast<int8_t>(int8(rng));
    for (int8_t& v : oihw) v = static_cast<int8_t>(weight(rng));
    std::vector<int32_t> bias(static_cast<size_t>(s.out_channels));
    for (int32_t& b : bias) b = pick(-20000, 20000);
    auto x = [&](int32_t n, int32_t c, int32_t y, int32_t xx) {
      return nchw[static_cast<size_t>(((n * s.in_channels + c) * s.in_height + y) * s.in_width + xx)];
    };
    auto w = [&](int32_t o, int32_t i, int32_t ky, int32_t kx) {
      return oihw[static_cast<size_t>(((o * perGroupIn + i) * s.kernel_height + ky) * s.kernel_width + kx)];
    };
    std::vector<int8_t> nhwc(inputCount), ohwi(oihw.size());
    for (int32_t n = 0; n < s.batch; ++n)
      for (int32_t c = 0; c < s.in_channels; ++c)
        for (int32_t y = 0; y < s.in_height; ++y)
          for (int32_t xx = 0; xx < s.in_width; ++xx)
            nhwc[static_cast<size_t>(((n * s.in_height + y) * s.in_width + xx) * s.in_channels + c)] = x(n, c, y, xx);
    for (int32_t o = 0; o < s.out_channels; ++o)
      for (int32_t i = 0; i < perGroupIn; ++i)
        for (int32_t ky = 0; ky < s.kernel_height; ++ky)
          for (int32_t kx = 0; kx < s.kernel_width; ++kx)
            ohwi[static_cast<size_t>(((o * s.kernel_height + ky) * s.kernel_width + kx) * perGroupIn + i)] = w(o, i, ky, kx);
    std::vector<int8_t> out(static_cast<size_t>(s.batch * s.out_height * s.out_width * s.out_channels));
    const cleave_q_requant requant = q.requant();
    cleave_q_conv(&s, nhwc.data(), ohwi.data(), bias.data(), &requant, out.data());

    const int32_t outPerGroup = s.out_channels / s.groups;
    for (int32_t n = 0; n < s.batch; ++n)
      for (int32_t o = 0; o < s.out_channels; ++o)
        for (int32_t oy = 0; oy < s.out_height; ++oy)
          for (int32_t ox = 0; ox < s.out_width; ++ox) {
            double acc = bias[static_cast<size_t>(o)];
            for (int32_t i = 0; i < perGroupIn; ++i)
              for (int32_t ky = 0; ky < s.kernel_height; ++ky)
                for (int32_t kx = 0; kx < s.kernel_width; ++kx) {
                  const int32_t iy = oy * s.stride_height - s.pad_top + ky * s.dilation_height;
                  const int32_t ix = ox * s.stride_width - s.pad_left + kx * s.dilation_width;
                  if (iy < 0 || ix < 0 || iy >= s.in_height || ix >= s.in_width) continue;
                  acc += (x(n, (o / outPerGroup) * perGroupIn + i, iy, ix) - s.input_zero_point) * w(o, i, ky, kx);
                }
            const int8_t got = out[static_cast<size_t>(((n * s.out_height + oy) * s.out_width + ox) * s.out_channels + o)];
            compare(acc, static_cast<size_t>(o), q, got, tally);
          }
  }
  CHECK(depthwise > 50);
  CHECK(grouped > 50);
  CHECK(tally.elements > 50000);
  MESSAGE(tally.exact << " of " << tally.elements << " outputs equal the once-rounded exact value; " << tally.nearHalf
                      << " were near enough a half to differ");
  CHECK(tally.exact >= tally.elements - tally.nearHalf);
}

TEST_CASE("int8 fully connected against the double-precision definition") {
  std::mt19937_64 rng(151);
  Comparison tally;
  for (int trial = 0; trial < 200; ++trial) {
    const int32_t rows = std::uniform_int_distribution<int32_t>(1, 3)(rng);
    const int32_t in = std::uniform_int_distribution<int32_t>(1, 300)(rng);
    const int32_t out = std::uniform_int_distribution<int32_t>(1, 40)(rng);
    Quantisation q = randomQuantisation(rng, out, in);
    std::uniform_int_distribution<int> int8(-128, 127), weight(-127, 127);
    std::vector<int8_t> x(static_cast<size_t>(rows * in)), w(static_cast<size_t>(out * in)), y(static_cast<size_t>(rows * out));
    for (int8_t& v : x) v = static_cast<int8_t>(int8(rng));
    for (int8_t& v : w) v = static_cast<int8_t>(weight(rng));
    std::vector<int32_t> bias(static_cast<size_t>(out));
    for (int32_t& b : bias) b = std::uniform_int_distribution<int32_t>(-20000, 20000)(rng);
    const cleave_q_requant requant = q.requant();
    const bool withBias = rng() % 2;
    cleave_q_fully_connected(rows, in, out, x.data(), q.inputZeroPoint, w.data(), withBias ? bias.data() : nullptr,
                             &requant, y.data());
    for (int32_t r = 0; r < rows; ++r)
      for (int32_t o = 0; o < out; ++o) {
        double acc = withBias ? bias[static_cast<size_t>(o)] : 0;
        for (int32_t i = 0; i < in; ++i)
          acc += (x[static_cast<size_t>(r * in + i)] - q.inputZeroPoint) * w[static_cast<size_t>(o * in + i)];
        compare(acc, static_cast<size_t>(o), q, y[static_cast<size_t>(r * out + o)], tally);
      }
  }
  CHECK(tally.elements > 5000);
  CHECK(tally.exact >= tally.elements - tally.nearHalf);
}

}  // namespace cleave::int8
