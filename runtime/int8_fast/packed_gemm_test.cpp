// The VNNI fast path against the int8 reference kernels (runtime/int8/): byte for byte, on random
// shapes, zero points, multipliers and shifts of both signs, including accumulators far larger
// than real layers produce.
#include "runtime/int8_fast/depthwise.h"
#include "runtime/int8_fast/packed_gemm.h"

#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "runtime/int8/fixed_point.h"

using namespace cleave;

namespace {

struct Requant {
  std::vector<int32_t> multipliers;
  std::vector<int> shifts;
  cleave_q_requant view{};
};

// One multiplier per channel from a real factor drawn over 2^-20 .. 2^3 (negative and positive
// shifts), with clamps narrower than int8 now and then.
Requant randomRequant(std::mt19937& rng, int32_t channels, int32_t zeroPoint) {
  Requant r;
  std::uniform_real_distribution<double> exponent(-20.0, 3.0);
  for (int32_t c = 0; c < channels; ++c) {
    int32_t m = 0;
    int shift = 0;
    cleave_q_quantize_multiplier(std::pow(2.0, exponent(rng)), &m, &shift);
    r.multipliers.push_back(m);
    r.shifts.push_back(shift);
  }
  const bool clamp = rng() % 3 == 0;
  r.view = {r.multipliers.data(), r.shifts.data(), zeroPoint, clamp ? zeroPoint : -128, clamp ? 100 : 127};
  return r;
}

std::vector<int8_t> randomBytes(std::mt19937& rng, size_t count) {
  std::vector<int8_t> bytes(count);
  for (int8_t& b : bytes) b = static_cast<int8_t>(rng() & 0xFF);
  return bytes;
}

}  // namespace

TEST_CASE("VNNI convolution is byte-identical to the reference on random shapes") {
  if (!int8fast::available()) {
    MESSAGE("skipped: this build has no AVX-512 VNNI kernels (the reference kernels run everywhere)");
    return;
  }
  std::mt19937 rng(42);
  int64_t outputs = 0;
  for (int trial = 0; trial < 300; ++trial) {
    cleave_q_conv_shape s{};
    s.batch = 1 + static_cast<int32_t>(rng() % 2);
    s.in_height = 1 + static_cast<int32_t>(rng() % 12);
    s.in_width = 1 + static_cast<int32_t>(rng() % 12);
    s.in_channels = 1 + static_cast<int32_t>(rng() % 40);
    s.out_channels = 1 + static_cast<int32_t>(rng() % 70);
    s.kernel_height = 1 + static_cast<int32_t>(rng() % 3);
    s.kernel_width = 1 + static_cast<int32_t>(rng() % 3);
    s.stride_height = 1 + static_cast<int32_t>(rng() % 2);
    s.stride_width = 1 + static_cast<int32_t>(rng() % 2);
    s.dilation_height = 1 + static_cast<int32_t>(rng() % 2);
    s.dilation_width = 1;
    s.pad_top = static_cast<int32_t>(rng() % 2);
    s.pad_left = static_cast<int32_t>(rng() % 2);
    s.groups = 1;
    s.input_zero_point = static_cast<int32_t>(rng() % 256) - 128;
    const int32_t extentH = (s.kernel_height - 1) * s.dilation_height + 1, extentW = s.kernel_width;
    s.out_height = (s.in_height + 2 * s.pad_top - extentH) / s.stride_height + 1;
    s.out_width = (s.in_width + 2 * s.pad_left - extentW) / s.stride_width + 1;
    if (s.out_height < 1 || s.out_width < 1) continue;
    const int32_t depth = s.kernel_height * s.kernel_width * s.in_channels;
    std::vector<int8_t> input =
        randomBytes(rng, static_cast<size_t>(s.batch * s.in_height * s.in_width * s.in_channels));
    std::vector<int8_t> weights = randomBytes(rng, static_cast<size_t>(s.out_channels * depth));
    std::vector<int32_t> bias(static_cast<size_t>(s.out_channels));
    for (int32_t& b : bias) b = static_cast<int32_t>(rng() % 200001) - 100000;
    Requant requant = randomRequant(rng, s.out_channels, static_cast<int32_t>(rng() % 256) - 128);
    const size_t outCount = static_cast<size_t>(s.batch * s.out_height * s.out_width * s.out_channels);
    std::vector<int8_t> expected(outCount), actual(outCount, 7);
    cleave_q_conv(&s, input.data(), weights.data(), bias.data(), &requant.view, expected.data());
    int8fast::PackedGemm gemm(weights.data(), bias.data(), s.out_channels, s.kernel_height * s.kernel_width,
                              s.in_channels, s.input_zero_point, requant.view);
    std::vector<uint8_t> scratch(static_cast<size_t>(int8fast::convScratchBytes(s, gemm)));
    int8fast::conv(s, gemm, input.data(), false, actual.data(), scratch.data());
    REQUIRE(actual == expected);
    // The same image in NCHW, as the session's tensors are.
    std::vector<int8_t> planar(input.size());
    const int64_t plane = int64_t{s.in_height} * s.in_width;
    for (int64_t n = 0; n < s.batch; ++n)
      for (int64_t p = 0; p < plane; ++p)
        for (int64_t c = 0; c < s.in_channels; ++c)
          planar[static_cast<size_t>((n * s.in_channels + c) * plane + p)] =
              input[static_cast<size_t>((n * plane + p) * s.in_channels + c)];
    std::fill(actual.begin(), actual.end(), int8_t{7});
    int8fast::conv(s, gemm, planar.data(), true, actual.data(), scratch.data());
    INFO("trial " << trial << ": " << s.in_height << "x" << s.in_width << "x" << s.in_channels << " -> "
                  << s.out_channels << ", kernel " << s.kernel_height << "x" << s.kernel_width);
    REQUIRE(actual == expected);
    outputs += static_cast<int64_t>(outCount);
  }
  MESSAGE(outputs << " outputs identical");
}

TEST_CASE("VNNI fully connected is byte-identical to the reference, large accumulators included") {
  if (!int8fast::available()) {
    MESSAGE("skipped: this build has no AVX-512 VNNI kernels");
    return;
  }
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const int32_t rows = 1 + static_cast<int32_t>(rng() % 9), in = 1 + static_cast<int32_t>(rng() % 3000),
                  out = 1 + static_cast<int32_t>(rng() % 80);
    const int32_t zeroPoint = trial % 2 ? -128 : static_cast<int32_t>(rng() % 256) - 128;
    std::vector<int8_t> input = randomBytes(rng, static_cast<size_t>(rows * in));
    std::vector<int8_t> weights = randomBytes(rng, static_cast<size_t>(out * in));
    std::vector<int32_t> bias(static_cast<size_t>(out));
    for (int32_t& b : bias) b = static_cast<int32_t>(rng()) / 4;
    Requant requant = randomRequant(rng, out, static_cast<int32_t>(rng() % 256) - 128);
    std::vector<int8_t> expected(static_cast<size_t>(rows * out)), actual(expected.size(), 7);
    cleave_q_fully_connected(rows, in, out, input.data(), zeroPoint, weights.data(), trial % 5 ? bias.data() : nullptr,
                             &requant.view, expected.data());
    int8fast::PackedGemm gemm(weights.data(), trial % 5 ? bias.data() : nullptr, out, 1, in, zeroPoint, requant.view);
    std::vector<uint8_t> scratch(static_cast<size_t>(rows * gemm.paddedChannels()));
    int8fast::fullyConnected(gemm, rows, input.data(), actual.data(), scratch.data());
    INFO("trial " << trial << ": " << rows << " x " << in << " -> " << out);
    REQUIRE(actual == expected);
  }
}

TEST_CASE("AVX-512 depthwise convolution is byte-identical to the reference on random shapes") {
  if (!int8fast::available()) {
    MESSAGE("skipped: this build has no AVX-512 VNNI kernels");
    return;
  }
  std::mt19937 rng(11);
  int64_t outputs = 0;
  for (int trial = 0; trial < 300; ++trial) {
    cleave_q_conv_shape s{};
    s.batch = 1 + static_cast<int32_t>(rng() % 2);
    s.in_height = 1 + static_cast<int32_t>(rng() % 14);
    s.in_width = 1 + static_cast<int32_t>(rng() % 14);
    s.in_channels = s.out_channels = s.groups = 1 + static_cast<int32_t>(rng() % 70);
    s.kernel_height = 1 + static_cast<int32_t>(rng() % 5);
    s.kernel_width = 1 + static_cast<int32_t>(rng() % 5);
    s.stride_height = 1 + static_cast<int32_t>(rng() % 2);
    s.stride_width = 1 + static_cast<int32_t>(rng() % 2);
    s.dilation_height = 1 + static_cast<int32_t>(rng() % 2);
    s.dilation_width = 1;
    s.pad_top = static_cast<int32_t>(rng() % 3);
    s.pad_left = static_cast<int32_t>(rng() % 3);
    s.input_zero_point = static_cast<int32_t>(rng() % 256) - 128;
    const int32_t extentH = (s.kernel_height - 1) * s.dilation_height + 1;
    s.out_height = (s.in_height + 2 * s.pad_top - extentH) / s.stride_height + 1;
    s.out_width = (s.in_width + 2 * s.pad_left - s.kernel_width) / s.stride_width + 1;
    if (s.out_height < 1 || s.out_width < 1) continue;
    std::vector<int8_t> input = randomBytes(rng, static_cast<size_t>(s.batch * s.in_height * s.in_width * s.in_channels));
    std::vector<int8_t> weights = randomBytes(rng, static_cast<size_t>(s.out_channels * s.kernel_height * s.kernel_width));
    std::vector<int32_t> bias(static_cast<size_t>(s.out_channels));
    for (int32_t& b : bias) b = static_cast<int32_t>(rng() % 200001) - 100000;
    Requant requant = randomRequant(rng, s.out_channels, static_cast<int32_t>(rng() % 256) - 128);
    const size_t outCount = static_cast<size_t>(s.batch * s.out_height * s.out_width * s.out_channels);
    std::vector<int8_t> expected(outCount), actual(outCount, 7);
    cleave_q_conv(&s, input.data(), weights.data(), trial % 4 ? bias.data() : nullptr, &requant.view, expected.data());
    int8fast::DepthwiseConv conv(s, weights.data(), trial % 4 ? bias.data() : nullptr, requant.view);
    conv.run(input.data(), actual.data());
    INFO("trial " << trial << ": " << s.in_height << "x" << s.in_width << "x" << s.in_channels << ", kernel "
                  << s.kernel_height << "x" << s.kernel_width);
    REQUIRE(actual == expected);
    outputs += static_cast<int64_t>(outCount);
  }
  MESSAGE(outputs << " depthwise outputs identical");
}
