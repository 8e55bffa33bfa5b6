// Small, dependency-free SVG plots for the demo report: line, step, dot and rug series over a
// shared x axis, linear or log axes with "nice" ticks, vertical markers with labels, shaded x
// ranges, horizontal bar charts and a legend. Each render returns one self-contained <svg>
// element (presentation attributes only, no CSS or script needed), ready to inline in HTML.
//
// Layout is computed from estimated text widths (no font metrics are available), so labels are
// given generous room. Every string that reaches the output goes through escapeXml.
#pragma once

#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cleave::demo {

// Okabe-Ito colours, distinguishable with the common colour-vision deficiencies. Yellow is left
// out: it disappears on white.
inline constexpr std::array<std::string_view, 7> PALETTE = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                                            "#CC79A7", "#56B4E9", "#000000"};
std::string_view paletteColor(size_t index);  // cycles

// `text` with & < > " ' replaced by entities, safe in element content and attribute values.
std::string escapeXml(std::string_view text);

enum class AxisScale { Linear, Log };

struct Axis {
  std::string label;
  AxisScale scale = AxisScale::Linear;
  // Fixed ends. Without them the range comes from the data, widened to nice values (linear: a
  // multiple of the tick step; log: the next 1-2-5 value). A fixed end that cannot be used (not
  // finite, min >= max, <= 0 on a log axis) is ignored.
  std::optional<double> min, max;
  bool includeZero = false;                   // linear auto range only: keep 0 in view
  std::function<std::string(double)> format;  // tick labels; unset prints "{:g}"
};

// An axis resolved against data: its ends and where the ticks go.
struct AxisRange {
  double lo = 0, hi = 1;
  std::vector<double> ticks;       // labelled, with a grid line
  std::vector<double> minorTicks;  // log axes: unlabelled grid lines at 2..9 x 10^k
};

// Resolves `axis` over `values`. Values a scale cannot show (not finite; <= 0 on a log axis) are
// ignored. Linear ticks step by 1, 2 or 5 x 10^k, about six of them. Log ticks are the decades;
// when fewer than three decades are in range, 2x and 5x are labelled too.
AxisRange resolveAxis(const Axis& axis, std::span<const double> values);

struct Point {
  double x = 0, y = 0;
};

enum class SeriesStyle {
  Line,  // straight segments between points
  Step,  // holds each y until the next x (a value that changes at discrete moments)
  Dots,  // one dot per point
  Rug,   // one tick at the bottom of the plot per x; y is ignored (events such as failures)
};

struct Series {
  std::string name;  // legend text; empty keeps the series out of the legend. Series with the same
                     // name and colour share one legend entry.
  std::string color = std::string(PALETTE[0]);
  SeriesStyle style = SeriesStyle::Line;
  bool dashed = false;
  double width = 1.75;        // line width; dot diameter is twice this
  std::vector<Point> points;  // ascending x; a point with a non-finite y breaks a line
};

// A vertical line across the plot (a re-plan), its label above the plot area. Labels that would
// overlap go to another row (up to three); beyond that the line is drawn unlabelled.
struct Marker {
  double x = 0;
  std::string label;
};

// A shaded x range behind the series, its label in the range's top-left corner.
struct Span {
  double fromX = 0, toX = 0;
  std::string label;
};

struct LinePlot {
  std::string id;     // the <svg>'s id, also the prefix of the ids inside it (unique per page)
  std::string title;  // the <svg>'s <title>, for screen readers
  double width = 880;
  double plotHeight = 240;  // the data area; margins for labels, legend and markers come on top
  Axis x, y;
  std::vector<Series> series;
  std::vector<Marker> markers;
  std::vector<Span> spans;
  // Series longer than this are reduced with downsampleMinMax before drawing, bounding the SVG.
  size_t maxPointsPerSeries = 2000;
  std::string emptyNote = "no data";  // shown when no series has a point the axes can show
};

// The plot as one <svg id="ID">. The data area is <rect class="frame" x y width height>; a data
// point (x, y) sits at frame.x + frame.width * t(x) and frame.y + frame.height * (1 - t(y)), t
// being the position of a value between its axis's ends (in log10 on a log axis). Lines and
// steps are <polyline>s, dots one <path> of zero-length round-capped segments.
std::string renderLinePlot(const LinePlot& plot);

struct Bar {
  std::string label;       // left of the bar
  double value = 0;        // negative values draw as 0
  std::string valueLabel;  // right of the bar's end; empty prints the axis format of `value`
  std::string color;       // empty: PALETTE[0]
};

// Horizontal bars along one value axis that starts at 0 (unless value.min says otherwise).
struct BarChart {
  std::string id, title;
  double width = 880;
  Axis value;
  std::vector<Bar> bars;  // top to bottom
  std::string emptyNote = "no data";
};

// The chart as one <svg id="ID">, the value area a <rect class="frame">; bar i is a <rect
// class="bar"> from frame.x whose width maps its value like renderLinePlot maps x.
std::string renderBarChart(const BarChart& chart);

// At most `maxPoints` of `points` that keep its shape: the first and last point, and from each
// of (maxPoints - 2) / 2 equal runs of the rest the point with the least and the greatest y, in
// their original order, so spikes and dips survive. When some y is not finite, runs are a third
// of that and also keep their first non-finite point, so gaps in a line survive too. Returns
// `points` unchanged when it is short enough (or maxPoints < 8).
std::vector<Point> downsampleMinMax(const std::vector<Point>& points, size_t maxPoints);

// The first problem with `markup` as XML-style markup (the way renderLinePlot and the report
// write it: every element closed or self-closed, attributes quoted, & only in entities), or none
// if it is well formed. A sanity check for tests and for the demo before it writes a report;
// "<!DOCTYPE ...>" and comments are skipped, not parsed.
std::optional<std::string> findMarkupError(std::string_view markup);

}  // namespace cleave::demo
