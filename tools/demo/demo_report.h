// The demo's report: one self-contained HTML page (inline CSS and SVG, no script, no external
// assets) from a DemoRecord. Sections: the run's facts, a summary table, four plots (<svg> ids
// latency-plot, bandwidth-plot, load-plot, curve-plot; further curves curve-plot-2, ...), a table
// of plan ranges per curve and a table of re-plans. Empty parts of the record render as plots
// saying "no data" and tables saying so, never as a broken page.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "tools/demo/demo_record.h"

namespace cleave::demo {

// The numbers in the report's summary table.
struct DemoSummary {
  size_t requests = 0;   // all samples
  size_t completed = 0;  // not failed
  size_t failed = 0;
  size_t correct = 0;                 // completed and correct
  std::optional<double> accuracy;     // correct / completed; none without completed requests
  std::optional<double> meanSeconds;  // latency over completed requests with a finite latency
  std::optional<double> p50Seconds;   // nearest rank, see percentileNearestRank
  std::optional<double> p95Seconds;
  std::optional<double> maxSeconds;
  size_t plans = 0;                  // entries in DemoRecord::replans
  size_t replans = 0;                // of those, the ones that replaced a plan (oldPredictedSeconds set)
  double durationSeconds = 0;        // DemoRecord::durationSeconds, or the last moment any sample mentions
  std::optional<double> throughput;  // completed requests per second of duration
};

// The nearest-rank percentile: the smallest value such that at least `percent`% of `values` are
// at or below it, i.e. sorted[ceil(percent / 100 x N) - 1]; percent <= 0 gives the minimum and
// >= 100 the maximum. Always one of the values, never an interpolation. None for no values.
std::optional<double> percentileNearestRank(std::vector<double> values, double percent);

DemoSummary summarize(const DemoRecord& record);

// The whole report as an HTML document (UTF-8). Every string from the record is escaped.
std::string renderDemoReport(const DemoRecord& record);

}  // namespace cleave::demo
