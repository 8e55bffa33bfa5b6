#include "tools/demo/demo_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "planner/units.h"
#include "tools/demo/svg_plot.h"

namespace cleave::demo {
namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr std::string_view PREDICTED_COLOR = "#444444";
// Above this ratio of largest to smallest predicted latency the curve plot uses a log y axis, or
// the fast end of the curve (where the placements change) flattens into the floor.
constexpr double CURVE_LOG_RATIO = 20;

// Style for the page around the plots: system font, light rules, tabular figures.
constexpr std::string_view STYLE = R"(
:root { color-scheme: light; }
body { margin: 0; background: #f6f6f4; color: #222; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 920px; margin: 0 auto; padding: 28px 24px 56px; background: #fff; min-height: 100vh; box-sizing: border-box; }
h1 { font-size: 1.6em; font-weight: 600; margin: 0 0 0.3em; }
h2 { font-size: 1.15em; font-weight: 600; margin: 2.2em 0 0.3em; padding-bottom: 0.2em; border-bottom: 1px solid #e4e4e4; }
h3 { font-size: 1em; font-weight: 600; margin: 1.4em 0 0.3em; }
p.caption { color: #555; font-size: 0.9em; margin: 0 0 0.6em; }
p.note { color: #777; font-style: italic; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; margin: 0; }
dl.facts dt { color: #666; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 0.92em; margin: 0.4em 0; }
th, td { text-align: left; padding: 4px 14px 4px 0; border-bottom: 1px solid #eee; vertical-align: top; }
th { font-weight: 600; color: #555; border-bottom-color: #d8d8d8; }
table.summary th { border-bottom-color: #eee; padding-right: 28px; }
td.num, th.num { text-align: right; white-space: nowrap; }
code { font-family: ui-monospace, "SF Mono", Menlo, Consolas, monospace; font-size: 0.9em; }
svg { display: block; max-width: 100%; height: auto; margin: 0.4em 0; }
)";

std::string esc(std::string_view text) { return escapeXml(text); }

std::string latencyText(std::optional<double> seconds) {
  return seconds && std::isfinite(*seconds) ? planner::formatSeconds(*seconds) : "–";
}

std::string secondsTick(double seconds) { return seconds == 0 ? "0" : planner::formatSeconds(seconds); }
std::string timeTick(double seconds) { return fmt::format("{:g} s", seconds); }
// Bandwidth axes are in bits per second so that their decades are round numbers of bits.
std::string bitsTick(double bitsPerSecond) { return planner::formatBandwidth(bitsPerSecond / 8); }

double runDuration(const DemoRecord& record) {
  if (std::isfinite(record.durationSeconds) && record.durationSeconds > 0) return record.durationSeconds;
  double last = 0;
  auto see = [&](double t) {
    if (std::isfinite(t)) last = std::max(last, t);
  };
  for (const RequestSample& r : record.requests) see(r.startSeconds + (r.failed ? 0 : r.latencySeconds));
  for (const LinkSeries& link : record.links)
    for (const LinkSample& s : link.samples) see(s.seconds);
  for (const Replan& r : record.replans) see(r.seconds);
  return last;
}

Axis timeAxis(double duration) {
  Axis axis;
  axis.label = "time since start";
  axis.format = timeTick;
  if (duration > 0) {
    axis.min = 0.0;
    axis.max = duration;
  }
  return axis;
}

std::vector<Marker> replanMarkers(const DemoRecord& record) {
  std::vector<Marker> markers;
  for (const Replan& r : record.replans) markers.push_back({r.seconds, fmt::format("e{}", r.epoch)});
  return markers;
}

std::string latencyPlot(const DemoRecord& record, double duration) {
  LinePlot plot;
  plot.id = "latency-plot";
  plot.title = "Latency per request over time, with re-plans";
  plot.x = timeAxis(duration);
  plot.y.label = "latency";
  plot.y.includeZero = true;
  plot.y.format = secondsTick;
  plot.emptyNote = "no data: no requests were recorded";

  std::vector<RequestSample> requests = record.requests;
  std::stable_sort(requests.begin(), requests.end(),
                   [](const RequestSample& a, const RequestSample& b) { return a.startSeconds < b.startSeconds; });
  Series correct{"correct", std::string(PALETTE[0]), SeriesStyle::Dots, false, 1.6, {}};
  Series wrong{"misclassified", std::string(PALETTE[1]), SeriesStyle::Dots, false, 1.6, {}};
  Series failed{"failed", std::string(PALETTE[3]), SeriesStyle::Rug, false, 1.5, {}};
  for (const RequestSample& r : requests) {
    if (r.failed)
      failed.points.push_back({r.startSeconds, 0});
    else
      (r.correct ? correct : wrong).points.push_back({r.startSeconds, r.latencySeconds});
  }
  // What the planner promised: each plan's predicted latency from when it took effect.
  Series predicted{"predicted by the plan", std::string(PREDICTED_COLOR), SeriesStyle::Step, false, 1.5, {}};
  for (const Replan& r : record.replans) predicted.points.push_back({r.seconds, r.newPredictedSeconds});
  if (!predicted.points.empty() && duration > predicted.points.back().x)
    predicted.points.push_back({duration, predicted.points.back().y});
  for (Series* s : {&correct, &wrong, &failed})
    if (!s->points.empty()) plot.series.push_back(std::move(*s));
  // With no requests there is nothing the prediction could be compared with: keep it out, so the
  // plot says "no data" instead of showing a lone line.
  if (!plot.series.empty() && !predicted.points.empty()) plot.series.push_back(std::move(predicted));
  plot.markers = replanMarkers(record);
  return renderLinePlot(plot);
}

std::string bandwidthPlot(const DemoRecord& record, double duration) {
  LinePlot plot;
  plot.id = "bandwidth-plot";
  plot.title = "Link bandwidth over time: trace and the daemon's estimate, with re-plans";
  plot.x = timeAxis(duration);
  plot.y.label = "bandwidth";
  plot.y.scale = AxisScale::Log;
  plot.y.format = bitsTick;
  plot.emptyNote = "no data: no link samples were recorded";
  for (size_t i = 0; i < record.links.size(); ++i) {
    const LinkSeries& link = record.links[i];
    std::string color(paletteColor(i));
    std::string name = fmt::format("{}→{}", link.from, link.to);
    Series trace{name + " trace", color, SeriesStyle::Step, true, 1.5, {}};
    Series measured{name + " measured", color, SeriesStyle::Line, false, 2, {}};
    for (const LinkSample& s : link.samples) {
      trace.points.push_back({s.seconds, s.trueBytesPerSecond * 8});
      measured.points.push_back({s.seconds, s.measuredBytesPerSecond ? *s.measuredBytesPerSecond * 8 : NaN});
    }
    plot.series.push_back(std::move(trace));
    plot.series.push_back(std::move(measured));
  }
  plot.markers = replanMarkers(record);
  return renderLinePlot(plot);
}

std::string loadPlot(const DemoRecord& record, double duration) {
  BarChart chart;
  chart.id = "load-plot";
  chart.title = "Compute time per device";
  chart.value.label = "compute time (sum of stage runs)";
  chart.value.format = secondsTick;
  chart.emptyNote = "no data: no device load was recorded";
  for (size_t i = 0; i < record.load.size(); ++i) {
    const DeviceLoad& load = record.load[i];
    std::string label = planner::formatSeconds(load.computeSeconds);
    if (duration > 0) label += fmt::format(" · {:.0f}% busy", 100 * load.computeSeconds / duration);
    label += fmt::format(" · {} run{}", load.stageRuns, load.stageRuns == 1 ? "" : "s");
    chart.bars.push_back({load.device, load.computeSeconds, label, std::string(paletteColor(i))});
  }
  return renderBarChart(chart);
}

// A run of consecutive curve points with the same placement.
struct CurveRun {
  size_t begin = 0, end = 0;  // [begin, end) in the curve's points
  std::string placement;
};

std::vector<CurveRun> curveRuns(const CurveSeries& curve) {
  std::vector<CurveRun> runs;
  for (size_t i = 0; i < curve.points.size(); ++i) {
    if (runs.empty() || runs.back().placement != curve.points[i].placement)
      runs.push_back({i, i, curve.points[i].placement});
    runs.back().end = i + 1;
  }
  return runs;
}

// The true bandwidth range the trace covered on `curve`'s link, if a link series spells it.
std::optional<std::pair<double, double>> traceRange(const DemoRecord& record, const CurveSeries& curve) {
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (const LinkSeries& link : record.links) {
    if (curve.link != link.from + "-" + link.to && curve.link != link.to + "-" + link.from) continue;
    for (const LinkSample& s : link.samples)
      if (std::isfinite(s.trueBytesPerSecond) && s.trueBytesPerSecond > 0) {
        lo = std::min(lo, s.trueBytesPerSecond);
        hi = std::max(hi, s.trueBytesPerSecond);
      }
  }
  if (!(lo <= hi)) return std::nullopt;
  return std::pair{lo, hi};
}

std::string curvePlot(const DemoRecord& record, const CurveSeries* curve, std::string id,
                      std::map<std::string, size_t>& placementColors) {
  LinePlot plot;
  plot.id = std::move(id);
  plot.x.scale = AxisScale::Log;
  plot.x.format = bitsTick;
  plot.y.label = "predicted latency";
  plot.y.format = secondsTick;
  plot.emptyNote = "no data: no bandwidth curve was recorded";
  if (!curve) {
    plot.title = "Neurosurgeon curve";
    plot.x.label = "bandwidth";
    return renderLinePlot(plot);
  }
  plot.title =
      fmt::format("Neurosurgeon curve: predicted latency of the best plan against the bandwidth of {}", curve->link);
  plot.x.label = fmt::format("bandwidth of {}", curve->link);
  double lo = std::numeric_limits<double>::infinity(), hi = 0;
  for (const CurvePoint& p : curve->points)
    if (std::isfinite(p.latencySeconds) && p.latencySeconds > 0) {
      lo = std::min(lo, p.latencySeconds);
      hi = std::max(hi, p.latencySeconds);
    }
  if (lo <= hi && hi / lo > CURVE_LOG_RATIO)
    plot.y.scale = AxisScale::Log;
  else
    plot.y.includeZero = true;

  std::vector<CurveRun> runs = curveRuns(*curve);
  for (size_t r = 0; r < runs.size(); ++r) {
    const CurveRun& run = runs[r];
    auto [it, added] = placementColors.try_emplace(run.placement, placementColors.size());
    Series segment{run.placement.empty() ? "(unnamed placement)" : run.placement,
                   std::string(paletteColor(it->second)),
                   SeriesStyle::Line,
                   false,
                   2.5,
                   {}};
    // Each segment runs on to the next one's first point, so the curve has no holes at breakpoints.
    size_t end = r + 1 < runs.size() ? run.end + 1 : run.end;
    for (size_t i = run.begin; i < end; ++i)
      segment.points.push_back({curve->points[i].bytesPerSecond * 8, curve->points[i].latencySeconds});
    plot.series.push_back(std::move(segment));
    if (r > 0) {
      double at = curve->points[run.begin].bytesPerSecond;
      plot.markers.push_back({at * 8, planner::formatBandwidth(at)});
    }
  }
  if (auto range = traceRange(record, *curve))
    plot.spans.push_back({range->first * 8, range->second * 8, "range of the trace"});
  return renderLinePlot(plot);
}

std::string curveTable(const CurveSeries& curve) {
  std::vector<CurveRun> runs = curveRuns(curve);
  if (runs.empty()) return {};
  std::string out =
      "<table class=\"curve\">\n<tr><th>bandwidth</th><th class=\"num\">predicted latency</th>"
      "<th>optimal placement</th></tr>\n";
  for (size_t r = 0; r < runs.size(); ++r) {
    const CurveRun& run = runs[r];
    double from = curve.points[run.begin].bytesPerSecond;
    // The range ends where the next placement takes over (or at the last point).
    double to =
        r + 1 < runs.size() ? curve.points[runs[r + 1].begin].bytesPerSecond : curve.points[run.end - 1].bytesPerSecond;
    double latencyLo = std::numeric_limits<double>::infinity(), latencyHi = -latencyLo;
    for (size_t i = run.begin; i < run.end; ++i) {
      latencyLo = std::min(latencyLo, curve.points[i].latencySeconds);
      latencyHi = std::max(latencyHi, curve.points[i].latencySeconds);
    }
    std::string latency = planner::formatSeconds(latencyLo);
    if (planner::formatSeconds(latencyHi) != latency) latency = planner::formatSeconds(latencyHi) + " – " + latency;
    out += fmt::format("<tr><td>{} – {}</td><td class=\"num\">{}</td><td><code>{}</code></td></tr>\n",
                       esc(planner::formatBandwidth(from)), esc(planner::formatBandwidth(to)), esc(latency),
                       esc(run.placement));
  }
  out += "</table>\n";
  return out;
}

std::string factsList(const DemoRecord& record) {
  std::vector<Fact> facts = {
      {"topology", record.topology}, {"model", record.model}, {"trace", record.trace}, {"strategy", record.strategy}};
  facts.insert(facts.end(), record.facts.begin(), record.facts.end());
  std::string out = "<dl class=\"facts\">\n";
  for (const Fact& fact : facts)
    if (!fact.value.empty()) out += fmt::format("<dt>{}</dt><dd>{}</dd>\n", esc(fact.label), esc(fact.value));
  out += "</dl>\n";
  return out;
}

std::string summaryTable(const DemoSummary& s) {
  auto row = [](std::string_view label, const std::string& value) {
    return fmt::format("<tr><th>{}</th><td class=\"num\">{}</td></tr>\n", esc(label), esc(value));
  };
  std::string out = "<table class=\"summary\">\n";
  out += row("requests", fmt::format("{}", s.requests));
  out += row("completed", fmt::format("{}", s.completed));
  out += row("failed", fmt::format("{}", s.failed));
  out += row("accuracy", s.accuracy ? fmt::format("{:.1f}% ({} of {})", 100 * *s.accuracy, s.correct, s.completed)
                                    : std::string("–"));
  out += row("mean latency", latencyText(s.meanSeconds));
  out += row("p50 latency", latencyText(s.p50Seconds));
  out += row("p95 latency", latencyText(s.p95Seconds));
  out += row("max latency", latencyText(s.maxSeconds));
  out += row("throughput", s.throughput ? fmt::format("{:.2f} requests/s", *s.throughput) : std::string("–"));
  out += row("plans", fmt::format("{}", s.plans));
  out += row("re-plans", fmt::format("{}", s.replans));
  out += row("duration", fmt::format("{:.1f} s", s.durationSeconds));
  out += "</table>\n";
  return out;
}

std::string replanTable(const DemoRecord& record) {
  if (record.replans.empty()) return "<p class=\"note\">No re-plans were recorded.</p>\n";
  // Measured latency per epoch, to set against what each plan predicted.
  std::map<uint64_t, std::vector<double>> latencies;
  for (const RequestSample& r : record.requests)
    if (!r.failed && std::isfinite(r.latencySeconds)) latencies[r.epoch].push_back(r.latencySeconds);
  std::string out =
      "<table class=\"replans\">\n<tr><th class=\"num\">time</th><th class=\"num\">epoch</th><th>reason</th>"
      "<th class=\"num\">predicted</th><th class=\"num\">measured (mean)</th><th>placement</th></tr>\n";
  for (const Replan& r : record.replans) {
    std::string predicted = r.oldPredictedSeconds ? latencyText(r.oldPredictedSeconds) + " → " : std::string();
    predicted += latencyText(r.newPredictedSeconds);
    std::string measured = "–";
    if (auto it = latencies.find(r.epoch); it != latencies.end()) {
      double sum = 0;
      for (double v : it->second) sum += v;
      measured = fmt::format("{} ({} req)", planner::formatSeconds(sum / static_cast<double>(it->second.size())),
                             it->second.size());
    }
    out += fmt::format(
        "<tr><td class=\"num\">{:.1f} s</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>"
        "<td class=\"num\">{}</td><td><code>{}</code></td></tr>\n",
        r.seconds, r.epoch, esc(r.reason), esc(predicted), esc(measured), esc(r.placement));
  }
  out += "</table>\n";
  return out;
}

}  // namespace

std::optional<double> percentileNearestRank(std::vector<double> values, double percent) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  if (!(percent > 0)) return values.front();
  // percent x N first: 95 x 20 / 100 is exactly 19, where 0.95 x 20 need not be. The slack keeps
  // an exact rank from rounding up to the next one.
  double rank = std::ceil(percent * static_cast<double>(values.size()) / 100 - 1e-9);
  size_t index = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size()))) - 1;
  return values[index];
}

DemoSummary summarize(const DemoRecord& record) {
  DemoSummary s;
  s.requests = record.requests.size();
  std::vector<double> latencies;
  for (const RequestSample& r : record.requests) {
    if (r.failed) {
      ++s.failed;
      continue;
    }
    ++s.completed;
    if (r.correct) ++s.correct;
    if (std::isfinite(r.latencySeconds)) latencies.push_back(r.latencySeconds);
  }
  if (s.completed > 0) s.accuracy = static_cast<double>(s.correct) / static_cast<double>(s.completed);
  if (!latencies.empty()) {
    double sum = 0;
    for (double v : latencies) sum += v;
    s.meanSeconds = sum / static_cast<double>(latencies.size());
    s.p50Seconds = percentileNearestRank(latencies, 50);
    s.p95Seconds = percentileNearestRank(latencies, 95);
    s.maxSeconds = *std::max_element(latencies.begin(), latencies.end());
  }
  s.plans = record.replans.size();
  s.replans = static_cast<size_t>(std::count_if(record.replans.begin(), record.replans.end(),
                                                [](const Replan& r) { return r.oldPredictedSeconds.has_value(); }));
  s.durationSeconds = runDuration(record);
  if (s.durationSeconds > 0) s.throughput = static_cast<double>(s.completed) / s.durationSeconds;
  return s;
}

std::string renderDemoReport(const DemoRecord& record) {
  DemoSummary summary = summarize(record);
  double duration = summary.durationSeconds;
  std::string out;
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\" />\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\" />\n";
  out += fmt::format("<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n<main>\n", esc(record.title), STYLE);
  out += fmt::format("<h1>{}</h1>\n", esc(record.title));
  out += factsList(record);

  out += "<h2>Summary</h2>\n";
  out += summaryTable(summary);
  out +=
      "<p class=\"caption\">Percentiles are nearest-rank over completed requests; accuracy is over completed "
      "requests; a re-plan is a plan change after the first plan.</p>\n";

  out += "<h2>Latency per request</h2>\n";
  out +=
      "<p class=\"caption\">Each dot is a request at the moment it was submitted; failed requests are ticks along "
      "the bottom. The grey step is the latency the current plan predicted; dashed lines mark re-plans, labelled "
      "with the new plan's epoch.</p>\n";
  out += latencyPlot(record, duration);

  out += "<h2>Link bandwidth</h2>\n";
  out +=
      "<p class=\"caption\">Dashed: the bandwidth the trace imposed on the link. Solid: the daemon's estimate of it "
      "(gaps before its first estimate). Log scale.</p>\n";
  out += bandwidthPlot(record, duration);

  out += "<h2>Compute load per device</h2>\n";
  out +=
      "<p class=\"caption\">Time each device spent running its stages over the whole run, as a share of the run's "
      "duration, and how many stage runs that was.</p>\n";
  out += loadPlot(record, duration);

  out += "<h2>Neurosurgeon curve</h2>\n";
  out +=
      "<p class=\"caption\">The predicted latency of the best plan as one link's bandwidth varies and everything "
      "else stays as planned; colour shows which placement is optimal, dashed lines where it changes. The shaded "
      "band is the range the trace covered.</p>\n";
  std::map<std::string, size_t> placementColors;  // one colour per placement across all curves
  if (record.curves.empty()) {
    out += curvePlot(record, nullptr, "curve-plot", placementColors);
  } else {
    for (size_t i = 0; i < record.curves.size(); ++i) {
      const CurveSeries& curve = record.curves[i];
      if (record.curves.size() > 1) out += fmt::format("<h3>{}</h3>\n", esc(curve.link));
      out += curvePlot(record, &curve, i == 0 ? std::string("curve-plot") : fmt::format("curve-plot-{}", i + 1),
                       placementColors);
      out += curveTable(curve);
    }
  }

  out += "<h2>Re-plans</h2>\n";
  out += replanTable(record);
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace cleave::demo
