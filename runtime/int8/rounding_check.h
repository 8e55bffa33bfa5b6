// For the int8 kernel tests: a kernel's output against the exact value of its definition.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include <doctest/doctest.h>

namespace cleave::int8 {

// How far from a half TFLM's first rounding (the doubling high multiply) can move a value
// requantised with `shift`: half of 2^shift of an output step for a right shift, half a step
// otherwise.
inline double firstRoundingSlack(int shift) { return 0.5 * std::ldexp(1.0, std::min(shift, 0)) + 1e-9; }

// `got` against the exact value rounded once and clamped to [low, high]: equal unless the exact
// value is within `slack` of a half, and never more than one step apart. Returns whether it was
// near a half.
inline bool checkRounded(double exact, int32_t low, int32_t high, int8_t got, double slack) {
  const double expected = std::clamp(std::round(exact), static_cast<double>(low), static_cast<double>(high));
  const bool nearHalf = std::abs(exact - std::floor(exact) - 0.5) <= slack;
  if (std::abs(got - expected) > 1 || (!nearHalf && got != expected))
    FAIL_CHECK("exact " << exact << ": kernel " << int{got} << ", expected " << expected);
  return nearHalf;
}

}  // namespace cleave::int8
