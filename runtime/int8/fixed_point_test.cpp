// cleave's int8 requantisation arithmetic against gemmlowp's fixedpoint.h (Debian's
// libgemmlowp-dev), the reference TensorFlow Lite Micro takes its rounding from: every case
// must give the same integer, on millions of random operands and on the edges where the two
// roundings are easy to get wrong (exact halves, INT32_MIN, shifts of 0 and 31).
#include "runtime/int8/fixed_point.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include <doctest/doctest.h>
#include <gemmlowp/fixedpoint/fixedpoint.h>

namespace cleave::int8 {
namespace {

constexpr int RANDOM_CASES = 1'000'000;
constexpr int32_t MIN32 = std::numeric_limits<int32_t>::min();
constexpr int32_t MAX32 = std::numeric_limits<int32_t>::max();

// TFLM's MultiplyByQuantizedMultiplier, written from gemmlowp's two primitives.
int32_t gemmlowpMultiply(int32_t x, int32_t multiplier, int shift) {
  const int left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
  return gemmlowp::RoundingDivideByPOT(
      gemmlowp::SaturatingRoundingDoublingHighMul(static_cast<int32_t>(static_cast<uint32_t>(x) << left), multiplier),
      right);
}

// Random int32 operands, a third of them small, a third near a power of two, a third anywhere.
int32_t operand(std::mt19937_64& rng) {
  switch (rng() % 3) {
    case 0: return static_cast<int32_t>(std::uniform_int_distribution<int32_t>(-70000, 70000)(rng));
    case 1: {
      const int bit = static_cast<int>(rng() % 31);
      const int32_t base = static_cast<int32_t>(int64_t{1} << bit);
      const int32_t near = base + static_cast<int32_t>(rng() % 5) - 2;
      return rng() % 2 ? near : -near;
    }
    default: return static_cast<int32_t>(rng());
  }
}

}  // namespace

TEST_CASE("the doubling high multiply equals gemmlowp's") {
  std::mt19937_64 rng(15);
  int64_t halves = 0;
  for (int i = 0; i < RANDOM_CASES; ++i) {
    int32_t a = operand(rng), b = operand(rng);
    if (i % 4 == 0) b = rng() % 2 ? (1 << 30) : -(1 << 30);  // a * b / 2^31 = a / 2: a half when a is odd
    const int64_t below = static_cast<int64_t>(a) * b % (int64_t{1} << 31);
    if (below == (int64_t{1} << 30) || below == -(int64_t{1} << 30)) ++halves;
    const int32_t ours = cleave_q_doubling_high_mul(a, b), theirs = gemmlowp::SaturatingRoundingDoublingHighMul(a, b);
    if (ours != theirs) FAIL_CHECK("a " << a << " b " << b << ": " << ours << " against gemmlowp's " << theirs);
  }
  CHECK(halves > RANDOM_CASES / 10);  // the tie rule is exercised, both signs
  for (int32_t a : {MIN32, MIN32 + 1, -1, 0, 1, MAX32 - 1, MAX32})
    for (int32_t b : {MIN32, MIN32 + 1, -1, 0, 1, MAX32 - 1, MAX32})
      CHECK(cleave_q_doubling_high_mul(a, b) == gemmlowp::SaturatingRoundingDoublingHighMul(a, b));
  CHECK(cleave_q_doubling_high_mul(MIN32, MIN32) == MAX32);
}

TEST_CASE("the rounding division by a power of two equals gemmlowp's") {
  std::mt19937_64 rng(16);
  for (int i = 0; i < RANDOM_CASES; ++i) {
    const int exponent = static_cast<int>(rng() % 32);
    int32_t x = operand(rng);
    if (i % 4 == 0 && exponent > 0 && exponent < 31) {  // an exact half, or one either side of it
      const int64_t half = int64_t{1} << (exponent - 1);
      const int64_t k = static_cast<int64_t>(rng() % 1000) - 500;
      const int64_t tie = k * (int64_t{1} << exponent) + half + static_cast<int64_t>(rng() % 3) - 1;
      if (tie >= MIN32 && tie <= MAX32) x = static_cast<int32_t>(rng() % 2 ? tie : -tie);
    }
    const int32_t ours = cleave_q_divide_by_pot(x, exponent), theirs = gemmlowp::RoundingDivideByPOT(x, exponent);
    if (ours != theirs) FAIL_CHECK("x " << x << " exponent " << exponent << ": " << ours << " against " << theirs);
  }
  for (int exponent : {0, 1, 30, 31})
    for (int32_t x : {MIN32, MIN32 + 1, -3, -2, -1, 0, 1, 2, 3, MAX32 - 1, MAX32})
      CHECK(cleave_q_divide_by_pot(x, exponent) == gemmlowp::RoundingDivideByPOT(x, exponent));
}

TEST_CASE("requantisation by multiplier and shift equals gemmlowp's primitives composed as TFLM does") {
  std::mt19937_64 rng(17);
  for (int i = 0; i < RANDOM_CASES; ++i) {
    // Accumulators of int8 products, real factors from 2^-20 to 4 (scale ratios in practice).
    const int32_t acc = std::uniform_int_distribution<int32_t>(-(1 << 22), 1 << 22)(rng);
    const double real = std::ldexp(std::uniform_real_distribution<double>(0.5, 1.0)(rng),
                                   std::uniform_int_distribution<int>(-19, 2)(rng));
    int32_t multiplier = 0;
    int shift = 0;
    cleave_q_quantize_multiplier(real, &multiplier, &shift);
    const int32_t ours = cleave_q_multiply(acc, multiplier, shift), theirs = gemmlowpMultiply(acc, multiplier, shift);
    if (ours != theirs) FAIL_CHECK("acc " << acc << " real " << real << ": " << ours << " against " << theirs);
    // Two roundings: at most one step from the exact product, rounded once.
    if (std::abs(static_cast<double>(ours) - std::round(acc * real)) > 1)
      FAIL_CHECK("acc " << acc << " x " << real << " = " << acc * real << ", requantised to " << ours);
  }
}

TEST_CASE("quantised multipliers are Q0.31 fractions in [0.5, 1) within half a step of the real factor") {
  std::mt19937_64 rng(18);
  for (int i = 0; i < RANDOM_CASES; ++i) {
    const double real = std::ldexp(std::uniform_real_distribution<double>(0.5, 1.0)(rng),
                                   std::uniform_int_distribution<int>(-30, 31)(rng));
    int32_t multiplier = 0;
    int shift = 0;
    cleave_q_quantize_multiplier(real, &multiplier, &shift);
    REQUIRE(multiplier >= (1 << 30));
    const double represented = std::ldexp(static_cast<double>(multiplier), shift - 31);
    if (shift < 30 && std::abs(represented - real) > std::ldexp(1.0, shift - 32))
      FAIL_CHECK(real << " became " << multiplier << " x 2^(" << shift << " - 31) = " << represented);
  }
  int32_t multiplier = -1;
  int shift = -1;
  cleave_q_quantize_multiplier(0.0, &multiplier, &shift);
  CHECK((multiplier == 0 && shift == 0));
  cleave_q_quantize_multiplier(std::ldexp(1.0, -40), &multiplier, &shift);  // too small to represent
  CHECK(multiplier == 0);
  cleave_q_quantize_multiplier(1.0, &multiplier, &shift);  // exactly 0.5 x 2^1
  CHECK((multiplier == (1 << 30) && shift == 1));
  cleave_q_quantize_multiplier(0.99999999999, &multiplier, &shift);  // rounds up to 1.0: 0.5 x 2^1
  CHECK((multiplier == (1 << 30) && shift == 1));
}

}  // namespace cleave::int8
