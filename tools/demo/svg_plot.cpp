#include "tools/demo/svg_plot.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>

namespace cleave::demo {
namespace {

constexpr std::string_view FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
constexpr double FONT_SIZE = 12;
// Average advance of a 12 px sans-serif glyph. Layout only needs an estimate: it errs wide.
constexpr double GLYPH_WIDTH = 6.6;
constexpr std::string_view TEXT_COLOR = "#333333";
constexpr std::string_view MUTED_COLOR = "#6b6b6b";
constexpr std::string_view GRID_COLOR = "#e6e6e6";
constexpr std::string_view MINOR_GRID_COLOR = "#f2f2f2";
constexpr std::string_view FRAME_COLOR = "#b8b8b8";
constexpr std::string_view MARKER_COLOR = "#555555";
constexpr std::string_view DASH = "6 4";
constexpr double RIGHT_MARGIN = 24;
constexpr double BOTTOM_MARGIN = 46;  // x tick labels, then the x axis label
constexpr double LEGEND_ROW = 20;
constexpr double MARKER_ROW = 15;
constexpr size_t MAX_MARKER_ROWS = 3;
constexpr int MAX_TICKS = 64;  // tick loops are bounded whatever the data
constexpr double MAX_DECADES = 40;
// Points far outside the axes are pulled in to this many pixels: the clip path hides them
// either way, and the numbers stay short.
constexpr double FAR_PIXEL = 1e5;
constexpr double EPSILON = 1e-9;  // relative slack for values that should sit exactly on a tick

double textWidth(std::string_view text) {
  size_t glyphs = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++glyphs;  // count UTF-8 lead bytes, not continuation bytes
  return static_cast<double>(glyphs) * GLYPH_WIDTH;
}

// One decimal is finer than a pixel and keeps long series short.
std::string px(double value) { return fmt::format("{:.1f}", value); }

std::string formatTick(const Axis& axis, double value) {
  return axis.format ? axis.format(value) : fmt::format("{:g}", value);
}

// 1, 2 or 5 x 10^k, the smallest not below `raw`.
double niceStep(double raw) {
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double fraction = raw / magnitude;
  double nice = fraction <= 1 + EPSILON ? 1 : fraction <= 2 + EPSILON ? 2 : fraction <= 5 + EPSILON ? 5 : 10;
  return nice * magnitude;
}

// The largest 1-2-5 value (1, 2 or 5 x 10^k) not above `value` > 0.
double floorNice(double value) {
  double magnitude = std::pow(10.0, std::floor(std::log10(value)));
  double fraction = value / magnitude;
  double nice = fraction >= 5 - EPSILON ? 5 : fraction >= 2 - EPSILON ? 2 : 1;
  return nice * magnitude;
}

// The smallest 1-2-5 value not below `value` > 0.
double ceilNice(double value) {
  double magnitude = std::pow(10.0, std::floor(std::log10(value)));
  double fraction = value / magnitude;
  double nice = fraction <= 1 + EPSILON ? 1 : fraction <= 2 + EPSILON ? 2 : fraction <= 5 + EPSILON ? 5 : 10;
  return nice * magnitude;
}

void resolveLinear(AxisRange& range, std::optional<double> fixedLo, std::optional<double> fixedHi, double dataLo,
                   double dataHi, bool haveData, bool includeZero) {
  double lo = fixedLo ? *fixedLo : haveData ? dataLo : 0;
  double hi = fixedHi ? *fixedHi : haveData ? dataHi : 1;
  if (includeZero) {
    if (!fixedLo) lo = std::min(lo, 0.0);
    if (!fixedHi) hi = std::max(hi, 0.0);
  }
  if (lo >= hi) {  // one value, or a single fixed end beyond the data
    double pad = lo != 0 ? std::abs(lo) * 0.5 : 1;
    if (!fixedLo && !fixedHi) {
      if (lo == 0) {
        hi = 1;
      } else {
        lo -= pad;
        hi += pad;
      }
    } else if (fixedHi) {
      lo = hi - pad;
    } else {
      hi = lo + pad;
    }
  }
  double step = niceStep((hi - lo) / 5);
  if (!std::isfinite(step) || step <= 0) {
    range.lo = lo;
    range.hi = hi;
    range.ticks = {lo, hi};
    return;
  }
  if (!fixedLo) lo = std::floor(lo / step + EPSILON) * step;
  if (!fixedHi) hi = std::ceil(hi / step - EPSILON) * step;
  range.lo = lo;
  range.hi = hi;
  double first = std::ceil(lo / step - EPSILON);
  for (int i = 0; i < MAX_TICKS; ++i) {
    double tick = (first + i) * step;
    if (tick > hi + step * EPSILON) break;
    if (std::abs(tick) < step * EPSILON) tick = 0;  // no "-1.4e-17"
    range.ticks.push_back(tick);
  }
}

void resolveLog(AxisRange& range, std::optional<double> fixedLo, std::optional<double> fixedHi, double dataLo,
                double dataHi, bool haveData) {
  double lo = fixedLo ? *fixedLo : haveData ? floorNice(dataLo) : 1;
  double hi = fixedHi ? *fixedHi : haveData ? ceilNice(dataHi) : 10;
  if (lo >= hi) {  // one value that is itself a 1-2-5 value, or a single fixed end beyond the data
    if (!fixedLo) lo = floorNice(hi * 0.99);
    if (!fixedHi) hi = ceilNice(lo * 1.01);
    if (lo >= hi) hi = lo * 10;
  }
  if (std::log10(hi / lo) > MAX_DECADES) lo = hi / std::pow(10.0, MAX_DECADES);
  range.lo = lo;
  range.hi = hi;
  auto inRange = [&](double v) { return v >= lo * (1 - EPSILON) && v <= hi * (1 + EPSILON); };
  int firstDecade = static_cast<int>(std::floor(std::log10(lo)));
  int lastDecade = static_cast<int>(std::ceil(std::log10(hi)));
  std::vector<double> decades;
  for (int k = firstDecade; k <= lastDecade; ++k)
    if (double v = std::pow(10.0, k); inRange(v)) decades.push_back(v);
  bool labelTwoFive = decades.size() < 3;
  for (int k = firstDecade; k <= lastDecade; ++k) {
    double decade = std::pow(10.0, k);
    for (int m = 1; m <= 9; ++m) {
      double v = m * decade;
      if (!inRange(v)) continue;
      bool labelled = m == 1 || (labelTwoFive && (m == 2 || m == 5));
      (labelled ? range.ticks : range.minorTicks).push_back(v);
    }
  }
}

// Maps values of one axis to pixels: `from` is where lo lands, `to` where hi lands.
struct PixelScale {
  double lo = 0, hi = 1;
  bool log = false;
  double from = 0, to = 1;

  // NaN for a value the axis cannot show (<= 0 on a log axis, not finite).
  double operator()(double value) const {
    double t = 0;
    if (log) {
      if (!(value > 0) || !std::isfinite(value)) return std::numeric_limits<double>::quiet_NaN();
      t = (std::log10(value) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
    } else {
      if (!std::isfinite(value)) return std::numeric_limits<double>::quiet_NaN();
      t = (value - lo) / (hi - lo);
    }
    return std::clamp(from + t * (to - from), -FAR_PIXEL, FAR_PIXEL);
  }
};

PixelScale pixelScale(const AxisRange& range, const Axis& axis, double from, double to) {
  return {range.lo, range.hi, axis.scale == AxisScale::Log, from, to};
}

bool insideSpan(double pixel, double a, double b) {
  return pixel >= std::min(a, b) - 0.5 && pixel <= std::max(a, b) + 0.5;
}

struct Frame {
  double x = 0, y = 0, width = 0, height = 0;
  double right() const { return x + width; }
  double bottom() const { return y + height; }
};

void openSvg(std::string& out, std::string_view id, std::string_view title, double width, double height) {
  std::string escapedId = escapeXml(id);
  out += fmt::format(
      "<svg id=\"{0}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{1}\" height=\"{2}\" viewBox=\"0 0 {1} {2}\" "
      "role=\"img\" aria-labelledby=\"{0}-title\" font-family=\"{3}\" font-size=\"{4}\" fill=\"{5}\">\n"
      "<title id=\"{0}-title\">{6}</title>\n",
      escapedId, px(width), px(height), FONT_FAMILY, FONT_SIZE, TEXT_COLOR, escapeXml(title));
}

void drawFrame(std::string& out, const Frame& frame) {
  out += fmt::format(
      "<rect class=\"frame\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#ffffff\" stroke=\"{}\"/>\n",
      px(frame.x), px(frame.y), px(frame.width), px(frame.height), FRAME_COLOR);
}

void drawEmptyNote(std::string& out, const Frame& frame, std::string_view note) {
  out += fmt::format(
      "<text class=\"empty\" x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\" fill=\"{}\">{}</text>\n",
      px(frame.x + frame.width / 2), px(frame.y + frame.height / 2 + 5), MUTED_COLOR, escapeXml(note));
}

// Vertical grid lines and labels for an x-like axis along the frame's bottom edge; labels thin
// out (every 2nd, 3rd, ...) when they would collide.
void drawHorizontalAxis(std::string& out, const Frame& frame, const Axis& axis, const AxisRange& range) {
  PixelScale scale = pixelScale(range, axis, frame.x, frame.right());
  for (double tick : range.minorTicks)
    if (double x = scale(tick); insideSpan(x, frame.x, frame.right()))
      out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\"/>\n", px(x), px(frame.y),
                         px(frame.bottom()), MINOR_GRID_COLOR);
  std::vector<std::string> labels;
  double widest = 0;
  for (double tick : range.ticks) {
    labels.push_back(formatTick(axis, tick));
    widest = std::max(widest, textWidth(labels.back()));
  }
  size_t stride = 1;
  while (stride < labels.size() &&
         static_cast<double>(labels.size()) / static_cast<double>(stride) * (widest + 10) > frame.width)
    ++stride;
  for (size_t i = 0; i < range.ticks.size(); ++i) {
    double x = scale(range.ticks[i]);
    if (!insideSpan(x, frame.x, frame.right())) continue;
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\"/>\n", px(x), px(frame.y),
                       px(frame.bottom()), GRID_COLOR);
    if (i % stride == 0)
      out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", px(x), px(frame.bottom() + 17),
                         escapeXml(labels[i]));
  }
  if (!axis.label.empty())
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"{}\">{}</text>\n",
                       px(frame.x + frame.width / 2), px(frame.bottom() + 37), MUTED_COLOR, escapeXml(axis.label));
}

struct LegendEntry {
  std::string name, color;
  SeriesStyle style = SeriesStyle::Line;
  bool dashed = false;
  double width = 1.75;
};

constexpr double LEGEND_SWATCH = 22;

double legendEntryWidth(const LegendEntry& entry) { return LEGEND_SWATCH + 6 + textWidth(entry.name) + 18; }

// Rows of legend entries that fit between `left` and `right`.
std::vector<std::vector<LegendEntry>> legendRows(const std::vector<LegendEntry>& entries, double left, double right) {
  std::vector<std::vector<LegendEntry>> rows;
  double x = left;
  for (const LegendEntry& entry : entries) {
    double w = legendEntryWidth(entry);
    if (rows.empty() || (x + w > right && !rows.back().empty())) {
      rows.emplace_back();
      x = left;
    }
    rows.back().push_back(entry);
    x += w;
  }
  return rows;
}

void drawLegend(std::string& out, const std::vector<std::vector<LegendEntry>>& rows, double left, double top) {
  if (rows.empty()) return;
  out += "<g class=\"legend\">\n";
  for (size_t r = 0; r < rows.size(); ++r) {
    double y = top + static_cast<double>(r) * LEGEND_ROW + LEGEND_ROW / 2;
    double x = left;
    for (const LegendEntry& entry : rows[r]) {
      switch (entry.style) {
        case SeriesStyle::Line:
        case SeriesStyle::Step:
          out += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}/>\n",
                             px(x), px(y), px(x + LEGEND_SWATCH), px(y), escapeXml(entry.color), px(entry.width + 0.5),
                             entry.dashed ? fmt::format(" stroke-dasharray=\"{}\"", DASH) : "");
          break;
        case SeriesStyle::Dots:
          out += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"3.5\" fill=\"{}\"/>\n", px(x + LEGEND_SWATCH / 2), px(y),
                             escapeXml(entry.color));
          break;
        case SeriesStyle::Rug:
          out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"2\"/>\n",
                             px(x + LEGEND_SWATCH / 2), px(y - 5), px(y + 5), escapeXml(entry.color));
          break;
      }
      out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", px(x + LEGEND_SWATCH + 6), px(y + 4),
                         escapeXml(entry.name));
      x += legendEntryWidth(entry);
    }
  }
  out += "</g>\n";
}

struct PlacedMarker {
  double x = 0;
  std::string label;
  std::optional<size_t> row;  // none: drawn unlabelled
};

// Greedy rows: each label takes the lowest row where it clears the previous label by a gap.
std::vector<PlacedMarker> placeMarkers(const std::vector<Marker>& markers, const PixelScale& scale, const Frame& frame,
                                       double svgWidth, size_t& rowsUsed) {
  std::vector<PlacedMarker> placed;
  for (const Marker& marker : markers) {
    double x = scale(marker.x);
    if (std::isnan(x) || !insideSpan(x, frame.x, frame.right())) continue;
    placed.push_back({x, marker.label, std::nullopt});
  }
  std::stable_sort(placed.begin(), placed.end(),
                   [](const PlacedMarker& a, const PlacedMarker& b) { return a.x < b.x; });
  std::array<double, MAX_MARKER_ROWS> rowEnd;
  rowEnd.fill(-std::numeric_limits<double>::infinity());
  rowsUsed = 0;
  for (PlacedMarker& marker : placed) {
    if (marker.label.empty()) continue;
    double w = textWidth(marker.label);
    double start = std::clamp(marker.x - w / 2, 2.0, std::max(2.0, svgWidth - 2 - w));
    for (size_t r = 0; r < MAX_MARKER_ROWS; ++r)
      if (start >= rowEnd[r] + 6) {
        marker.row = r;
        rowEnd[r] = start + w;
        rowsUsed = std::max(rowsUsed, r + 1);
        break;
      }
  }
  return placed;
}

// Polylines for a line or step series, one per run of drawable points.
void drawLineSeries(std::string& out, const Series& series, const std::vector<Point>& points, const PixelScale& xs,
                    const PixelScale& ys) {
  std::string attributes = fmt::format("fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\"{}",
                                       escapeXml(series.color), px(series.width),
                                       series.dashed ? fmt::format(" stroke-dasharray=\"{}\"", DASH) : "");
  std::string run;
  size_t runPoints = 0;
  double firstX = 0, firstY = 0, previousY = 0;
  auto flush = [&] {
    if (runPoints == 1)  // a lone point: a round dot so it does not vanish
      out += fmt::format("<path d=\"M{},{}h0\" stroke=\"{}\" stroke-width=\"{}\" stroke-linecap=\"round\"/>\n",
                         px(firstX), px(firstY), escapeXml(series.color), px(series.width * 2));
    else if (runPoints > 1)
      out += fmt::format("<polyline points=\"{}\" {}/>\n", run, attributes);
    run.clear();
    runPoints = 0;
  };
  for (const Point& point : points) {
    double x = xs(point.x), y = ys(point.y);
    if (std::isnan(x) || std::isnan(y)) {
      flush();
      continue;
    }
    if (runPoints == 0) {
      firstX = x;
      firstY = y;
    } else {
      run += ' ';
      if (series.style == SeriesStyle::Step) run += fmt::format("{},{} ", px(x), px(previousY));
    }
    run += fmt::format("{},{}", px(x), px(y));
    previousY = y;
    ++runPoints;
  }
  flush();
}

void drawDotSeries(std::string& out, const Series& series, const std::vector<Point>& points, const PixelScale& xs,
                   const PixelScale& ys) {
  std::string d;
  for (const Point& point : points) {
    double x = xs(point.x), y = ys(point.y);
    if (std::isnan(x) || std::isnan(y)) continue;
    d += fmt::format("M{},{}h0", px(x), px(y));
  }
  if (d.empty()) return;
  out += fmt::format(
      "<path class=\"dots\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linecap=\"round\" "
      "opacity=\"0.8\"/>\n",
      d, escapeXml(series.color), px(series.width * 2));
}

void drawRugSeries(std::string& out, const Series& series, const std::vector<Point>& points, const PixelScale& xs,
                   const Frame& frame) {
  std::string d;
  for (const Point& point : points) {
    double x = xs(point.x);
    if (std::isnan(x)) continue;
    d += fmt::format("M{},{}v-9", px(x), px(frame.bottom()));
  }
  if (d.empty()) return;
  out += fmt::format("<path class=\"rug\" d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"/>\n", d,
                     escapeXml(series.color), px(series.width));
}

}  // namespace

std::string_view paletteColor(size_t index) { return PALETTE[index % PALETTE.size()]; }

std::string escapeXml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

AxisRange resolveAxis(const Axis& axis, std::span<const double> values) {
  bool log = axis.scale == AxisScale::Log;
  auto usable = [&](double v) { return std::isfinite(v) && (!log || v > 0); };
  std::optional<double> fixedLo = axis.min && usable(*axis.min) ? axis.min : std::nullopt;
  std::optional<double> fixedHi = axis.max && usable(*axis.max) ? axis.max : std::nullopt;
  if (fixedLo && fixedHi && *fixedLo >= *fixedHi) fixedLo = fixedHi = std::nullopt;
  double dataLo = std::numeric_limits<double>::infinity(), dataHi = -dataLo;
  for (double v : values)
    if (usable(v)) {
      dataLo = std::min(dataLo, v);
      dataHi = std::max(dataHi, v);
    }
  bool haveData = dataLo <= dataHi;
  AxisRange range;
  if (log)
    resolveLog(range, fixedLo, fixedHi, dataLo, dataHi, haveData);
  else
    resolveLinear(range, fixedLo, fixedHi, dataLo, dataHi, haveData, axis.includeZero);
  return range;
}

std::vector<Point> downsampleMinMax(const std::vector<Point>& points, size_t maxPoints) {
  size_t n = points.size();
  if (n <= maxPoints || maxPoints < 8) return points;
  bool gaps = std::any_of(points.begin(), points.end(), [](const Point& p) { return !std::isfinite(p.y); });
  size_t buckets = (maxPoints - 2) / (gaps ? 3 : 2);
  size_t interior = n - 2;  // the first and last point are always kept
  std::vector<Point> out;
  out.reserve(maxPoints);
  out.push_back(points.front());
  for (size_t b = 0; b < buckets; ++b) {
    size_t begin = 1 + b * interior / buckets, end = 1 + (b + 1) * interior / buckets;
    std::optional<size_t> lowest, highest, gap;
    for (size_t i = begin; i < end; ++i) {
      if (!std::isfinite(points[i].y)) {
        if (!gap) gap = i;
        continue;
      }
      if (!lowest || points[i].y < points[*lowest].y) lowest = i;
      if (!highest || points[i].y > points[*highest].y) highest = i;
    }
    std::array<size_t, 3> keep{};
    size_t kept = 0;
    for (std::optional<size_t> index : {lowest, highest, gap})
      if (index && std::find(keep.begin(), keep.begin() + kept, *index) == keep.begin() + kept) keep[kept++] = *index;
    // At most three: sorted by hand (std::sort on the partial array trips GCC 12's -Warray-bounds).
    for (size_t a = 1; a < kept; ++a)
      for (size_t k = a; k > 0 && keep[k - 1] > keep[k]; --k) std::swap(keep[k - 1], keep[k]);
    for (size_t k = 0; k < kept; ++k) out.push_back(points[keep[k]]);
  }
  out.push_back(points.back());
  return out;
}

std::string renderLinePlot(const LinePlot& plot) {
  std::vector<std::vector<Point>> drawn;  // per series, after downsampling
  std::vector<double> xs, ys;
  for (const Series& series : plot.series) {
    drawn.push_back(series.points.size() > plot.maxPointsPerSeries
                        ? downsampleMinMax(series.points, plot.maxPointsPerSeries)
                        : series.points);
    for (const Point& p : series.points) {
      xs.push_back(p.x);
      if (series.style != SeriesStyle::Rug) ys.push_back(p.y);
    }
  }
  AxisRange xRange = resolveAxis(plot.x, xs);
  AxisRange yRange = resolveAxis(plot.y, ys);

  // Is anything drawable? A point both axes can place (a rug needs only x).
  PixelScale probeX = pixelScale(xRange, plot.x, 0, 1), probeY = pixelScale(yRange, plot.y, 0, 1);
  bool empty = true;
  for (const Series& series : plot.series)
    for (const Point& p : series.points)
      if (!std::isnan(probeX(p.x)) && (series.style == SeriesStyle::Rug || !std::isnan(probeY(p.y)))) {
        empty = false;
        break;
      }

  if (empty) {  // ticks along an axis that shows nothing would only suggest a range the data never had
    for (AxisRange* range : {&xRange, &yRange}) {
      range->ticks.clear();
      range->minorTicks.clear();
    }
  }

  // Left margin: the widest y tick label, then room for the rotated axis label.
  std::vector<std::string> yLabels;
  double widestY = 0;
  for (double tick : yRange.ticks) {
    yLabels.push_back(formatTick(plot.y, tick));
    widestY = std::max(widestY, textWidth(yLabels.back()));
  }
  Frame frame;
  frame.x = std::max(56.0, std::ceil(26 + widestY + 10));
  frame.width = std::max(40.0, plot.width - frame.x - RIGHT_MARGIN);

  std::vector<LegendEntry> entries;
  for (const Series& series : plot.series) {
    if (series.name.empty()) continue;
    bool seen = std::any_of(entries.begin(), entries.end(),
                            [&](const LegendEntry& e) { return e.name == series.name && e.color == series.color; });
    if (!seen) entries.push_back({series.name, series.color, series.style, series.dashed, series.width});
  }
  auto rows = legendRows(entries, frame.x, plot.width - RIGHT_MARGIN);
  double legendTop = 6;
  double markerTop = legendTop + static_cast<double>(rows.size()) * LEGEND_ROW;
  size_t markerRows = 0;
  PixelScale xScale = pixelScale(xRange, plot.x, frame.x, frame.right());
  std::vector<PlacedMarker> markers = placeMarkers(plot.markers, xScale, frame, plot.width, markerRows);
  frame.y = markerTop + static_cast<double>(markerRows) * MARKER_ROW + 8;
  frame.height = std::max(40.0, plot.plotHeight);
  double height = frame.bottom() + BOTTOM_MARGIN;
  PixelScale yScale = pixelScale(yRange, plot.y, frame.bottom(), frame.y);

  std::string out;
  openSvg(out, plot.id, plot.title, plot.width, height);
  std::string clipId = escapeXml(plot.id) + "-clip";
  out +=
      fmt::format("<defs><clipPath id=\"{}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath></defs>\n",
                  clipId, px(frame.x), px(frame.y), px(frame.width), px(frame.height));
  drawFrame(out, frame);

  // Grid and tick labels.
  for (double tick : yRange.minorTicks)
    if (double y = yScale(tick); insideSpan(y, frame.y, frame.bottom()))
      out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\"/>\n", px(frame.x), px(y),
                         px(frame.right()), MINOR_GRID_COLOR);
  for (size_t i = 0; i < yRange.ticks.size(); ++i) {
    double y = yScale(yRange.ticks[i]);
    if (!insideSpan(y, frame.y, frame.bottom())) continue;
    out += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"{3}\"/>\n", px(frame.x), px(y),
                       px(frame.right()), GRID_COLOR);
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", px(frame.x - 6), px(y + 4),
                       escapeXml(yLabels[i]));
  }
  if (!plot.y.label.empty())
    out +=
        fmt::format("<text transform=\"translate(14,{}) rotate(-90)\" text-anchor=\"middle\" fill=\"{}\">{}</text>\n",
                    px(frame.y + frame.height / 2), MUTED_COLOR, escapeXml(plot.y.label));
  drawHorizontalAxis(out, frame, plot.x, xRange);

  // Spans, then series, inside the frame.
  out += fmt::format("<g clip-path=\"url(#{})\">\n", clipId);
  for (const Span& span : plot.spans) {
    double a = xScale(span.fromX), b = xScale(span.toX);
    if (std::isnan(a) || std::isnan(b)) continue;
    double left = std::clamp(std::min(a, b), frame.x, frame.right());
    double right = std::clamp(std::max(a, b), frame.x, frame.right());
    out += fmt::format(
        "<rect class=\"span\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#000000\" "
        "fill-opacity=\"0.06\"/>\n",
        px(left), px(frame.y), px(std::max(right - left, 1.0)), px(frame.height));
    if (!span.label.empty())
      out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{}\">{}</text>\n", px(left + 4),
                         px(frame.y + 13), MUTED_COLOR, escapeXml(span.label));
  }
  for (size_t s = 0; s < plot.series.size(); ++s) {
    const Series& series = plot.series[s];
    switch (series.style) {
      case SeriesStyle::Line:
      case SeriesStyle::Step:
        drawLineSeries(out, series, drawn[s], xScale, yScale);
        break;
      case SeriesStyle::Dots:
        drawDotSeries(out, series, drawn[s], xScale, yScale);
        break;
      case SeriesStyle::Rug:
        drawRugSeries(out, series, drawn[s], xScale, frame);
        break;
    }
  }
  out += "</g>\n";

  // Markers over the data, their labels above the frame.
  for (const PlacedMarker& marker : markers) {
    double top = marker.row ? markerTop + static_cast<double>(markerRows - *marker.row) * MARKER_ROW - 1 : frame.y;
    out += fmt::format(
        "<line class=\"marker\" x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"1\" "
        "stroke-dasharray=\"3 3\"/>\n",
        px(marker.x), px(top), px(frame.bottom()), MARKER_COLOR);
    if (marker.row) {
      double w = textWidth(marker.label);
      double start = std::clamp(marker.x - w / 2, 2.0, std::max(2.0, plot.width - 2 - w));
      out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"{}\">{}</text>\n", px(start), px(top - 3),
                         MARKER_COLOR, escapeXml(marker.label));
    }
  }
  drawLegend(out, rows, frame.x, legendTop);
  if (empty) drawEmptyNote(out, frame, plot.emptyNote);
  out += "</svg>\n";
  return out;
}

std::string renderBarChart(const BarChart& chart) {
  constexpr double ROW = 28, BAR = 16, TOP = 10;
  Axis axis = chart.value;
  axis.includeZero = true;
  std::vector<double> values;
  for (const Bar& bar : chart.bars) values.push_back(std::max(bar.value, 0.0));
  AxisRange range = resolveAxis(axis, values);
  if (chart.bars.empty()) range.ticks.clear();

  std::vector<std::string> valueLabels;
  double widestLabel = 0, widestValue = 0;
  for (const Bar& bar : chart.bars) {
    widestLabel = std::max(widestLabel, textWidth(bar.label));
    valueLabels.push_back(bar.valueLabel.empty() ? formatTick(axis, bar.value) : bar.valueLabel);
    widestValue = std::max(widestValue, textWidth(valueLabels.back()));
  }
  Frame frame;
  frame.x = std::clamp(widestLabel + 18, 60.0, 260.0);
  frame.y = TOP;
  frame.width = std::max(40.0, chart.width - frame.x - std::clamp(widestValue + 16, RIGHT_MARGIN, 320.0));
  frame.height = ROW * static_cast<double>(std::max<size_t>(chart.bars.size(), 1)) + 8;
  double height = frame.bottom() + BOTTOM_MARGIN;

  std::string out;
  openSvg(out, chart.id, chart.title, chart.width, height);
  drawFrame(out, frame);
  drawHorizontalAxis(out, frame, axis, range);
  PixelScale scale = pixelScale(range, axis, frame.x, frame.right());
  for (size_t i = 0; i < chart.bars.size(); ++i) {
    const Bar& bar = chart.bars[i];
    double center = frame.y + 4 + ROW * (static_cast<double>(i) + 0.5);
    double end = scale(std::max(bar.value, range.lo));
    if (std::isnan(end)) end = frame.x;
    end = std::clamp(end, frame.x, frame.right());
    out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", px(frame.x - 8), px(center + 4),
                       escapeXml(bar.label));
    out += fmt::format("<rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\" fill=\"{}\"/>\n",
                       px(frame.x), px(center - BAR / 2), px(end - frame.x), px(BAR),
                       escapeXml(bar.color.empty() ? std::string(PALETTE[0]) : bar.color));
    out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", px(end + 6), px(center + 4), escapeXml(valueLabels[i]));
  }
  if (chart.bars.empty()) drawEmptyNote(out, frame, chart.emptyNote);
  out += "</svg>\n";
  return out;
}

std::optional<std::string> findMarkupError(std::string_view markup) {
  std::vector<std::string_view> open;
  size_t i = 0, n = markup.size();
  auto isNameChar = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' || c == '.';
  };
  auto skipSpace = [&] {
    while (i < n && std::isspace(static_cast<unsigned char>(markup[i]))) ++i;
  };
  auto readName = [&] {
    size_t start = i;
    while (i < n && isNameChar(markup[i])) ++i;
    return markup.substr(start, i - start);
  };
  // An entity at markup[i] == '&': one of XML's five, or a numeric character reference.
  auto checkEntity = [&]() -> std::optional<std::string> {
    size_t end = markup.find(';', i);
    if (end == std::string_view::npos || end - i > 10) return fmt::format("offset {}: bare '&'", i);
    std::string_view entity = markup.substr(i + 1, end - i - 1);
    bool numeric = entity.size() > 1 && entity[0] == '#' && std::all_of(entity.begin() + 1, entity.end(), [](char c) {
                     return std::isdigit(static_cast<unsigned char>(c));
                   });
    bool hex = entity.size() > 2 && entity[0] == '#' && entity[1] == 'x' &&
               std::all_of(entity.begin() + 2, entity.end(),
                           [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
    if (!numeric && !hex && entity != "amp" && entity != "lt" && entity != "gt" && entity != "quot" && entity != "apos")
      return fmt::format("offset {}: unknown entity '&{};'", i, entity);
    i = end + 1;
    return std::nullopt;
  };
  while (i < n) {
    char c = markup[i];
    if (c == '&') {
      if (auto error = checkEntity()) return error;
      continue;
    }
    if (c != '<') {
      ++i;
      continue;
    }
    std::string_view rest = markup.substr(i);
    if (rest.starts_with("<!--")) {
      size_t end = markup.find("-->", i + 4);
      if (end == std::string_view::npos) return fmt::format("offset {}: unterminated comment", i);
      i = end + 3;
      continue;
    }
    if (rest.starts_with("<!") || rest.starts_with("<?")) {
      size_t end = markup.find('>', i);
      if (end == std::string_view::npos) return fmt::format("offset {}: unterminated declaration", i);
      i = end + 1;
      continue;
    }
    size_t tagStart = i;
    ++i;
    if (i < n && markup[i] == '/') {
      ++i;
      std::string_view name = readName();
      skipSpace();
      if (i >= n || markup[i] != '>') return fmt::format("offset {}: malformed closing tag", tagStart);
      ++i;
      if (open.empty()) return fmt::format("offset {}: </{}> closes nothing", tagStart, name);
      if (open.back() != name) return fmt::format("offset {}: </{}> closes <{}>", tagStart, name, open.back());
      open.pop_back();
      continue;
    }
    std::string_view name = readName();
    if (name.empty()) return fmt::format("offset {}: '<' that starts no tag", tagStart);
    bool closed = false;
    for (;;) {
      skipSpace();
      if (i >= n) return fmt::format("offset {}: unterminated <{}>", tagStart, name);
      if (markup[i] == '>') {
        ++i;
        break;
      }
      if (markup.substr(i).starts_with("/>")) {
        i += 2;
        closed = true;
        break;
      }
      std::string_view attribute = readName();
      if (attribute.empty()) return fmt::format("offset {}: bad attribute in <{}>", i, name);
      skipSpace();
      if (i >= n || markup[i] != '=') return fmt::format("offset {}: attribute '{}' has no value", i, attribute);
      ++i;
      skipSpace();
      if (i >= n || (markup[i] != '"' && markup[i] != '\''))
        return fmt::format("offset {}: attribute '{}' is not quoted", i, attribute);
      char quote = markup[i++];
      while (i < n && markup[i] != quote) {
        if (markup[i] == '<') return fmt::format("offset {}: '<' inside attribute '{}'", i, attribute);
        if (markup[i] == '&') {
          if (auto error = checkEntity()) return error;
        } else {
          ++i;
        }
      }
      if (i >= n) return fmt::format("offset {}: unterminated attribute '{}'", i, attribute);
      ++i;
    }
    if (!closed) open.push_back(name);
  }
  if (!open.empty()) return fmt::format("<{}> is never closed", open.back());
  return std::nullopt;
}

}  // namespace cleave::demo
