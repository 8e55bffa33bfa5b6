// For the demo's tests: the data area of a plot as its SVG states it (`<rect class="frame">`).
// Tests compute the pixels they expect from it by the documented mapping, independently of the
// layout code.
#pragma once

#include <doctest/doctest.h>

#include <regex>
#include <string>

namespace cleave::demo::testing {

struct Rect {
  double x = 0, y = 0, width = 0, height = 0;
};

inline Rect frameOf(const std::string& svg) {
  std::smatch m;
  REQUIRE(std::regex_search(
      svg, m,
      std::regex(R"re(<rect class="frame" x="([-\d.]+)" y="([-\d.]+)" width="([-\d.]+)" height="([-\d.]+)")re")));
  return {std::stod(m[1]), std::stod(m[2]), std::stod(m[3]), std::stod(m[4])};
}

}  // namespace cleave::demo::testing
