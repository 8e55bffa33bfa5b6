#include "tools/demo/svg_plot.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "tools/demo/svg_frame_for_tests.h"

namespace cleave::demo {
namespace {

using testing::frameOf;
using testing::Rect;

std::vector<Point> parsePairs(const std::string& text, const std::regex& pair) {
  std::vector<Point> points;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pair); it != std::sregex_iterator(); ++it)
    points.push_back({std::stod((*it)[1]), std::stod((*it)[2])});
  return points;
}

// The value of every attribute that follows `prefix` (e.g. `<polyline points="`), in document
// order. Found by hand: std::regex recurses per character and overflows on long attributes.
std::vector<std::string> attributes(const std::string& svg, const std::string& prefix) {
  std::vector<std::string> values;
  for (size_t at = svg.find(prefix); at != std::string::npos; at = svg.find(prefix, at + 1)) {
    size_t begin = at + prefix.size(), end = svg.find('"', begin);
    REQUIRE(end != std::string::npos);
    values.push_back(svg.substr(begin, end - begin));
  }
  return values;
}

// Every <polyline>'s points, in document order.
std::vector<std::vector<Point>> polylines(const std::string& svg) {
  std::vector<std::vector<Point>> lines;
  std::regex pair(R"re(([-\d.]+),([-\d.]+))re");
  for (const std::string& points : attributes(svg, "<polyline points=\"")) lines.push_back(parsePairs(points, pair));
  return lines;
}

std::vector<Point> dots(const std::string& svg) {
  auto paths = attributes(svg, "<path class=\"dots\" d=\"");
  if (paths.empty()) return {};
  return parsePairs(paths[0], std::regex(R"re(M([-\d.]+),([-\d.]+)h0)re"));
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

double linearT(double v, double lo, double hi) { return (v - lo) / (hi - lo); }
double logT(double v, double lo, double hi) { return std::log10(v / lo) / std::log10(hi / lo); }

LinePlot fixedPlot() {
  // Initialised, not assigned: GCC 12 warns falsely (-Wrestrict) on assigning a short literal here.
  LinePlot plot;
  plot.id = std::string("plot");
  plot.x.min = 0.0;
  plot.x.max = 10.0;
  plot.y.min = 0.0;
  plot.y.max = 100.0;
  return plot;
}

}  // namespace

TEST_CASE("escapeXml replaces the five markup characters and nothing else") {
  CHECK(escapeXml(R"re(a<b & "c" > 'd')re") == "a&lt;b &amp; &quot;c&quot; &gt; &#39;d&#39;");
  CHECK(escapeXml("plain → utf-8") == "plain → utf-8");
  CHECK(escapeXml("&amp;") == "&amp;amp;");  // escaped again: the input is text, not markup
}

TEST_CASE("linear axes get 1-2-5 steps and ends widened to a step") {
  Axis axis;
  std::vector<double> values = {0.3, 9.7};
  AxisRange range = resolveAxis(axis, values);
  CHECK(range.lo == 0);
  CHECK(range.hi == 10);
  CHECK(range.ticks == std::vector<double>{0, 2, 4, 6, 8, 10});
}

TEST_CASE("linear ticks stay nice for small and offset ranges") {
  Axis axis;
  std::vector<double> values = {0.012, 0.0371};
  AxisRange range = resolveAxis(axis, values);
  // raw step (0.0371 - 0.012) / 5 = 0.00502 -> 0.01; ends widened to 0.01 and 0.04.
  CHECK(range.ticks.size() == 4);
  CHECK(range.ticks.front() == doctest::Approx(0.01));
  CHECK(range.ticks.back() == doctest::Approx(0.04));

  axis.includeZero = true;
  values = {3.2, 47};
  range = resolveAxis(axis, values);
  CHECK(range.lo == 0);
  CHECK(range.hi == 50);
  CHECK(range.ticks == std::vector<double>{0, 10, 20, 30, 40, 50});

  // One value: a range around it, not a zero-width axis.
  axis.includeZero = false;
  values = {5};
  range = resolveAxis(axis, values);
  CHECK(range.lo < 5);
  CHECK(range.hi > 5);
  // Fixed ends are kept as given; ticks are the nice values inside.
  axis.min = 0.0;
  axis.max = 7.3;
  range = resolveAxis(axis, values);
  CHECK(range.lo == 0);
  CHECK(range.hi == 7.3);
  CHECK(range.ticks == std::vector<double>{0, 2, 4, 6});
}

TEST_CASE("log axes label decades, and 2 and 5 when there are few decades") {
  Axis axis;
  axis.scale = AxisScale::Log;
  std::vector<double> values = {3000, 2e7, -1, 0};  // non-positive values cannot be shown and are ignored
  AxisRange range = resolveAxis(axis, values);
  CHECK(range.lo == doctest::Approx(2000));
  CHECK(range.hi == doctest::Approx(2e7));
  REQUIRE(range.ticks.size() == 4);
  for (size_t i = 0; i < 4; ++i) CHECK(range.ticks[i] == doctest::Approx(std::pow(10.0, 4 + static_cast<int>(i))));
  CHECK(range.minorTicks.size() > 20);

  values = {1.5e6, 4e6};
  range = resolveAxis(axis, values);
  CHECK(range.lo == doctest::Approx(1e6));
  CHECK(range.hi == doctest::Approx(5e6));
  REQUIRE(range.ticks.size() == 3);
  CHECK(range.ticks[0] == doctest::Approx(1e6));
  CHECK(range.ticks[1] == doctest::Approx(2e6));
  CHECK(range.ticks[2] == doctest::Approx(5e6));
}

TEST_CASE("a line's points land on the pixels the documented mapping gives") {
  LinePlot plot = fixedPlot();
  std::vector<Point> data = {{0, 0}, {2, 30}, {5, 50}, {10, 100}};
  plot.series.push_back({"line", "#0072B2", SeriesStyle::Line, false, 1.5, data});
  std::string svg = renderLinePlot(plot);
  Rect frame = frameOf(svg);
  auto lines = polylines(svg);
  REQUIRE(lines.size() == 1);
  REQUIRE(lines[0].size() == data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    CAPTURE(i);
    CHECK(lines[0][i].x == doctest::Approx(frame.x + frame.width * linearT(data[i].x, 0, 10)).epsilon(0.001));
    CHECK(lines[0][i].y == doctest::Approx(frame.y + frame.height * (1 - linearT(data[i].y, 0, 100))).epsilon(0.001));
  }
  // Corners of the data land on the frame's corners.
  CHECK(lines[0][0].x == doctest::Approx(frame.x));
  CHECK(lines[0][0].y == doctest::Approx(frame.y + frame.height));
  CHECK(lines[0][3].y == doctest::Approx(frame.y));
  CHECK_FALSE(findMarkupError(svg));
}

TEST_CASE("log axes map by log10") {
  LinePlot plot = fixedPlot();
  plot.y.scale = AxisScale::Log;
  plot.y.min = 1.0;
  plot.y.max = 1000.0;
  plot.x.scale = AxisScale::Log;
  plot.x.min = 1e3;
  plot.x.max = 1e7;
  std::vector<Point> data = {{1e3, 1}, {1e4, 10}, {3e5, 500}};
  plot.series.push_back({"", "#000000", SeriesStyle::Line, false, 1.5, data});
  std::string svg = renderLinePlot(plot);
  Rect frame = frameOf(svg);
  auto lines = polylines(svg);
  REQUIRE(lines.size() == 1);
  REQUIRE(lines[0].size() == 3);
  CHECK(lines[0][1].x == doctest::Approx(frame.x + frame.width * 0.25).epsilon(0.001));
  CHECK(lines[0][1].y == doctest::Approx(frame.y + frame.height * (1 - 1.0 / 3)).epsilon(0.001));
  CHECK(lines[0][2].x == doctest::Approx(frame.x + frame.width * logT(3e5, 1e3, 1e7)).epsilon(0.001));
  CHECK(lines[0][2].y == doctest::Approx(frame.y + frame.height * (1 - logT(500, 1, 1000))).epsilon(0.001));
}

TEST_CASE("steps hold their value until the next x; non-finite values break lines") {
  LinePlot plot = fixedPlot();
  plot.series.push_back({"step", "#000000", SeriesStyle::Step, false, 1.5, {{0, 10}, {4, 60}, {8, 20}}});
  plot.series.push_back(
      {"gappy", "#E69F00", SeriesStyle::Line, true, 1.5, {{0, 1}, {1, 2}, {2, NAN}, {3, 4}, {4, 5}, {5, 6}}});
  std::string svg = renderLinePlot(plot);
  Rect frame = frameOf(svg);
  auto lines = polylines(svg);
  REQUIRE(lines.size() == 3);
  // Step: (0,10) (4,10) (4,60) (8,60) (8,20).
  REQUIRE(lines[0].size() == 5);
  auto xAt = [&](double x) { return frame.x + frame.width * x / 10; };
  auto yAt = [&](double y) { return frame.y + frame.height * (1 - y / 100); };
  CHECK(lines[0][1].x == doctest::Approx(xAt(4)).epsilon(0.001));
  CHECK(lines[0][1].y == doctest::Approx(yAt(10)).epsilon(0.001));
  CHECK(lines[0][2].y == doctest::Approx(yAt(60)).epsilon(0.001));
  CHECK(lines[0][4].x == doctest::Approx(xAt(8)).epsilon(0.001));
  CHECK(lines[0][4].y == doctest::Approx(yAt(20)).epsilon(0.001));
  CHECK(lines[1].size() == 2);                         // before the gap
  CHECK(lines[2].size() == 3);                         // after it
  CHECK(count(svg, "stroke-dasharray=\"6 4\"") >= 2);  // the dashed series and its legend swatch
}

TEST_CASE("downsampling keeps spikes, dips, gaps and both ends within the budget") {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 1);
  std::vector<Point> points;
  for (int i = 0; i < 10000; ++i) points.push_back({i * 0.01, 50 + 10 * std::sin(i * 0.003) + noise(rng)});
  points[7777].y = 1000;  // a spike
  points[1234].y = -500;  // a dip
  std::vector<Point> out = downsampleMinMax(points, 2000);
  CHECK(out.size() <= 2000);
  CHECK(out.size() > 1500);  // the budget is used, not wasted
  CHECK(out.front().x == points.front().x);
  CHECK(out.back().x == points.back().x);
  bool ascending = true;
  for (size_t i = 1; i < out.size(); ++i) ascending = ascending && out[i].x > out[i - 1].x;
  CHECK(ascending);
  auto has = [&](const Point& p) {
    return std::any_of(out.begin(), out.end(), [&](const Point& q) { return q.x == p.x && q.y == p.y; });
  };
  CHECK(has(points[7777]));
  CHECK(has(points[1234]));

  points[5000].y = NAN;
  out = downsampleMinMax(points, 2000);
  CHECK(out.size() <= 2000);
  CHECK(std::any_of(out.begin(), out.end(), [](const Point& p) { return std::isnan(p.y); }));
  CHECK(has(points[7777]));

  std::vector<Point> few(points.begin(), points.begin() + 100);
  CHECK(downsampleMinMax(few, 2000).size() == 100);
}

TEST_CASE("long series are drawn downsampled, spike included") {
  LinePlot plot = fixedPlot();
  plot.y.max = 2000.0;
  std::vector<Point> points;
  for (int i = 0; i < 20000; ++i) points.push_back({i * 0.0005, 10.0 + (i % 7)});
  points[12345].y = 1500;
  plot.series.push_back({"long", "#0072B2", SeriesStyle::Line, false, 1.5, points});
  plot.series.push_back({"dots", "#E69F00", SeriesStyle::Dots, false, 1.5, points});
  std::string svg = renderLinePlot(plot);
  Rect frame = frameOf(svg);
  auto lines = polylines(svg);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].size() <= 2000);
  double spikeX = frame.x + frame.width * points[12345].x / 10;
  double spikeY = frame.y + frame.height * (1 - 1500.0 / 2000);
  auto hasSpike = [&](const std::vector<Point>& drawn) {
    return std::any_of(drawn.begin(), drawn.end(),
                       [&](const Point& p) { return std::abs(p.x - spikeX) < 0.06 && std::abs(p.y - spikeY) < 0.06; });
  };
  CHECK(hasSpike(lines[0]));
  auto drawnDots = dots(svg);
  CHECK(drawnDots.size() <= 2000);
  CHECK(hasSpike(drawnDots));
  CHECK(svg.size() < 100'000);
}

TEST_CASE("markers sit at their x, labels escaped; crowded labels go to other rows") {
  LinePlot plot = fixedPlot();
  plot.series.push_back({"", "#000000", SeriesStyle::Line, false, 1.5, {{0, 1}, {10, 2}}});
  plot.markers = {{2.5, "e<1>"}, {2.55, "e2 & more"}, {7.5, "e3"}};
  std::string svg = renderLinePlot(plot);
  Rect frame = frameOf(svg);
  CHECK(svg.find("e&lt;1&gt;") != std::string::npos);
  CHECK(svg.find("e2 &amp; more") != std::string::npos);
  CHECK(svg.find("e<1>") == std::string::npos);
  std::regex markerLine(R"re(<line class="marker" x1="([-\d.]+)" y1="([-\d.]+)")re");
  std::vector<Point> lines = parsePairs(svg, markerLine);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].x == doctest::Approx(frame.x + frame.width * 0.25).epsilon(0.001));
  CHECK(lines[2].x == doctest::Approx(frame.x + frame.width * 0.75).epsilon(0.001));
  CHECK(lines[0].y != doctest::Approx(lines[1].y));  // the two near each other are on different rows
  CHECK(lines[0].y < frame.y);                       // labels sit above the data area
  CHECK_FALSE(findMarkupError(svg));
}

TEST_CASE("tick labels use the axis's formatter") {
  LinePlot plot;
  plot.id = "bw";
  plot.y.scale = AxisScale::Log;
  plot.y.format = [](double bits) { return fmt::format("{:g} bit/s", bits); };
  plot.series.push_back({"", "#000000", SeriesStyle::Line, false, 1.5, {{0, 1e3}, {1, 1e6}}});
  std::string svg = renderLinePlot(plot);
  for (const char* label : {">1000 bit/s<", ">10000 bit/s<", ">100000 bit/s<", ">1e+06 bit/s<"})
    CHECK(svg.find(label) != std::string::npos);
}

TEST_CASE("a plot without drawable data still renders, with its note") {
  LinePlot plot;
  plot.id = "empty";
  plot.emptyNote = "nothing <here>";
  std::string svg = renderLinePlot(plot);
  CHECK(svg.find("nothing &lt;here&gt;") != std::string::npos);
  CHECK(svg.find("<svg id=\"empty\"") == 0);
  CHECK(svg.find("<line") == std::string::npos);  // no grid or ticks for a range nobody chose
  CHECK_FALSE(findMarkupError(svg));
  // Points a log axis cannot show do not count as data.
  plot.y.scale = AxisScale::Log;
  plot.series.push_back({"zero", "#000000", SeriesStyle::Line, false, 1.5, {{0, 0}, {1, -3}}});
  CHECK(renderLinePlot(plot).find("class=\"empty\"") != std::string::npos);
}

TEST_CASE("bars are as long as their value says") {
  BarChart chart;
  chart.id = "bars";
  chart.value.max = 10.0;
  chart.bars = {{"cam<era>", 5, "", ""}, {"pi1", 10, "ten & all", "#E69F00"}, {"neg", -3, "", ""}};
  std::string svg = renderBarChart(chart);
  Rect frame = frameOf(svg);
  std::vector<double> widths;
  std::regex bar(R"re(<rect class="bar" x="([-\d.]+)" y="[-\d.]+" width="([-\d.]+)")re");
  for (const Point& p : parsePairs(svg, bar)) {
    CHECK(p.x == doctest::Approx(frame.x));
    widths.push_back(p.y);
  }
  REQUIRE(widths.size() == 3);
  CHECK(widths[0] == doctest::Approx(frame.width / 2).epsilon(0.002));
  CHECK(widths[1] == doctest::Approx(frame.width).epsilon(0.002));
  CHECK(widths[2] == 0);
  CHECK(svg.find("cam&lt;era&gt;") != std::string::npos);
  CHECK(svg.find("ten &amp; all") != std::string::npos);
  CHECK_FALSE(findMarkupError(svg));

  BarChart empty;
  empty.id = "none";
  std::string emptySvg = renderBarChart(empty);
  CHECK(emptySvg.find(">no data<") != std::string::npos);
  CHECK_FALSE(findMarkupError(emptySvg));
}

TEST_CASE("the markup checker finds what it is for") {
  CHECK_FALSE(findMarkupError("<!DOCTYPE html><a x=\"1\"><b/>t &amp; &#39; &#x41;<!-- <c> --></a>"));
  CHECK(findMarkupError("<a><b></a></b>"));
  CHECK(findMarkupError("<a>"));
  CHECK(findMarkupError("</a>"));
  CHECK(findMarkupError("<a>x & y</a>"));
  CHECK(findMarkupError("<a>x < y</a>"));
  CHECK(findMarkupError("<a x=1></a>"));
  CHECK(findMarkupError("<a x=\"<\"></a>"));
  CHECK(findMarkupError("<a>&nbsp;</a>"));
}

}  // namespace cleave::demo
