#include "tools/demo/demo_report.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <regex>
#include <string>
#include <utility>

#include "tools/demo/svg_frame_for_tests.h"
#include "tools/demo/svg_plot.h"

namespace cleave::demo {
namespace {

using testing::frameOf;
using testing::Rect;

// One <svg id="ID">...</svg> cut out of the report.
std::string svgById(const std::string& html, const std::string& id) {
  size_t start = html.find("<svg id=\"" + id + "\"");
  if (start == std::string::npos) return {};
  size_t end = html.find("</svg>", start);
  REQUIRE(end != std::string::npos);
  return html.substr(start, end + 6 - start);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// A run shaped like the demo: a camera, two Pis and a cloud node; the camera's uplink follows a
// trace that drops and recovers; the daemon re-plans twice. Values are invented but plausible.
DemoRecord sampleRecord() {
  DemoRecord record;
  record.title = "cleave demo: Fashion-MNIST across camera, two Pis and a cloud";
  record.topology = "configs/demo-fleet.toml (camera, pi1, pi2, cloud)";
  record.model = "models/fmnist_small (21 nodes)";
  record.trace = "configs/traces/drop-and-recover.csv";
  record.durationSeconds = 90;
  record.facts = {{"requests/s offered", "20"}, {"objective", "latency"}};

  auto bandwidthAt = [](double t) {  // bytes/s on camera->pi1
    if (t < 30) return 2.5e6;        // 20 Mbps
    if (t < 60) return 40e3;         // 320 kbps
    return 1.0e6;                    // 8 Mbps
  };
  record.replans = {
      {0.4, 1, "first plan", std::nullopt, 0.018, "camera 0-3 | pi1 3-9 | cloud 9-21"},
      {32.1, 2, "camera-pi1 bandwidth 20 Mbps -> 320 kbps", 0.31, 0.052, "camera 0-12 | pi1 12-21"},
      {61.8, 3, "camera-pi1 bandwidth 320 kbps -> 8 Mbps", 0.052, 0.021, "camera 0-3 | pi1 3-9 | cloud 9-21"},
  };
  std::mt19937 rng(42);
  std::lognormal_distribution<double> jitter(0, 0.25);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int i = 0; i < 1800; ++i) {
    double t = 0.5 + i * 0.05;
    const Replan* plan = &record.replans[0];
    for (const Replan& r : record.replans)
      if (r.seconds <= t) plan = &r;
    // Requests between the drop and the re-plan wait on the slow link.
    double latency = (t >= 30 && t < 32.1 ? 0.3 : plan->newPredictedSeconds) * jitter(rng);
    bool failed = t > 30 && t < 31 && i % 5 == 0;
    record.requests.push_back({t, latency, plan->epoch, unit(rng) < 0.9, failed});
  }
  LinkSeries uplink{"camera", "pi1", {}};
  LinkSeries pi{"pi1", "cloud", {}};
  for (int s = 0; s <= 180; ++s) {
    double t = s * 0.5;
    std::optional<double> measured;
    if (t >= 2) measured = bandwidthAt(t - 1.5) * jitter(rng);
    uplink.samples.push_back({t, bandwidthAt(t), measured});
    pi.samples.push_back({t, 12.5e6, t >= 2 ? std::optional<double>(12.5e6 * jitter(rng)) : std::nullopt});
  }
  record.links = {uplink, pi};
  record.load = {{"camera", 9.4, 1800}, {"pi1", 31.2, 1800}, {"pi2", 0, 0}, {"cloud", 3.1, 1200}};
  CurveSeries curve{"camera-pi1", {}};
  // The lower envelope of three plans' lines in 1 / bandwidth: everything on the camera (no
  // transfer), a cut sending 9 kB, a cut sending 36 kB. Breakpoints at 150 kB/s and 1.5 MB/s.
  for (double bw = 5e3; bw <= 5e7; bw *= 1.25) {
    std::pair<double, std::string> best{0.09, "camera 0-21"};
    best = std::min(best, {0.03 + 9e3 / bw, "camera 0-12 | pi1 12-21"});
    best = std::min(best, {0.012 + 36e3 / bw, "camera 0-3 | pi1 3-9 | cloud 9-21"});
    curve.points.push_back({bw, best.first, best.second});
  }
  record.curves = {curve};
  return record;
}

}  // namespace

TEST_CASE("nearest-rank percentiles match the hand-worked example") {
  // The textbook example: 15, 20, 35, 40, 50.
  std::vector<double> values = {40, 15, 50, 35, 20};
  CHECK(*percentileNearestRank(values, 5) == 15);   // rank ceil(0.25) = 1
  CHECK(*percentileNearestRank(values, 30) == 20);  // rank ceil(1.5) = 2
  CHECK(*percentileNearestRank(values, 40) == 20);  // rank 2 exactly: not rounded up
  CHECK(*percentileNearestRank(values, 50) == 35);  // rank ceil(2.5) = 3
  CHECK(*percentileNearestRank(values, 100) == 50);
  CHECK(*percentileNearestRank(values, 0) == 15);
  // 1..20: p95 is rank 19 exactly, p50 rank 10.
  std::vector<double> twenty;
  for (int i = 20; i >= 1; --i) twenty.push_back(i);
  CHECK(*percentileNearestRank(twenty, 95) == 19);
  CHECK(*percentileNearestRank(twenty, 50) == 10);
  CHECK(*percentileNearestRank(twenty, 96) == 20);  // rank ceil(19.2) = 20
  CHECK_FALSE(percentileNearestRank({}, 50));
}

TEST_CASE("the summary counts, averages and ranks by hand") {
  DemoRecord record;
  record.requests = {
      {0.0, 0.010, 1, true, false},  {1.0, 0.030, 1, true, false},
      {2.0, 0.020, 1, false, false}, {3.0, 99.0, 1, true, true},  // failed: its latency is not a latency
      {4.0, 0.040, 2, true, false},
  };
  record.replans = {{0, 1, "first", std::nullopt, 0.02, "a"}, {3.5, 2, "moved", 0.05, 0.03, "b"}};
  DemoSummary s = summarize(record);
  CHECK(s.requests == 5);
  CHECK(s.completed == 4);
  CHECK(s.failed == 1);
  CHECK(s.correct == 3);
  CHECK(*s.accuracy == doctest::Approx(0.75));
  CHECK(*s.meanSeconds == doctest::Approx(0.025));
  CHECK(*s.p50Seconds == 0.020);  // sorted 10, 20, 30, 40 ms: rank ceil(2) = 2
  CHECK(*s.p95Seconds == 0.040);  // rank ceil(3.8) = 4
  CHECK(*s.maxSeconds == 0.040);
  CHECK(s.plans == 2);
  CHECK(s.replans == 1);
  CHECK(s.durationSeconds == doctest::Approx(4.04));  // no duration given: the last request's end
  CHECK(*s.throughput == doctest::Approx(4 / 4.04));
}

TEST_CASE("the sample report has every section and plot, and is well formed") {
  DemoRecord record = sampleRecord();
  std::string html = renderDemoReport(record);
  {
    std::ofstream file(std::string(CLEAVE_BINARY_DIR) + "/sample-report.html");
    file << html;  // for a person to open; nothing below depends on it
  }
  auto error = findMarkupError(html);
  CHECK_MESSAGE(!error, (error ? *error : ""));
  CHECK(html.starts_with("<!DOCTYPE html>"));
  for (const char* id : {"latency-plot", "bandwidth-plot", "load-plot", "curve-plot"}) {
    CAPTURE(id);
    CHECK(count(html, std::string("<svg id=\"") + id + "\"") == 1);
  }
  // Self-contained: no scripts, no external references.
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("href=") == std::string::npos);
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));
  CHECK(html.find("https://") == std::string::npos);

  // Summary figures, formatted with the planner's units.
  CHECK(html.find("<th>requests</th><td class=\"num\">1800</td>") != std::string::npos);
  CHECK(html.find("<th>re-plans</th><td class=\"num\">2</td>") != std::string::npos);
  CHECK(html.find("<th>duration</th><td class=\"num\">90.0 s</td>") != std::string::npos);
  // Re-plan table: old -> new prediction and the placement.
  CHECK(html.find("310 ms → 52 ms") != std::string::npos);
  CHECK(html.find("<code>camera 0-12 | pi1 12-21</code>") != std::string::npos);
  // Re-plan markers on both time plots, labelled by epoch.
  for (const char* id : {"latency-plot", "bandwidth-plot"}) {
    std::string svg = svgById(html, id);
    CHECK(count(svg, "class=\"marker\"") == 3);
    CHECK(svg.find(">e2<") != std::string::npos);
  }
  // Bandwidth ticks in bits with units; the curve's breakpoints marked.
  std::string bandwidth = svgById(html, "bandwidth-plot");
  CHECK(bandwidth.find(">1 Mbps<") != std::string::npos);
  CHECK(bandwidth.find(">10 Mbps<") != std::string::npos);
  std::string curve = svgById(html, "curve-plot");
  CHECK(count(curve, "class=\"marker\"") == 2);
  CHECK(count(curve, "class=\"span\"") == 1);
  CHECK(curve.find("camera 0-3 | pi1 3-9 | cloud 9-21") != std::string::npos);
  // The load bars; pi2 did nothing and has a zero-width bar.
  std::string load = svgById(html, "load-plot");
  CHECK(count(load, "class=\"bar\"") == 4);
  CHECK(load.find("35% busy") != std::string::npos);  // pi1: 31.2 s of 90 s
}

TEST_CASE("a re-plan's marker sits at its time on the shared time axis") {
  DemoRecord record = sampleRecord();
  std::string html = renderDemoReport(record);
  for (const char* id : {"latency-plot", "bandwidth-plot"}) {
    CAPTURE(id);
    std::string svg = svgById(html, id);
    Rect frame = frameOf(svg);
    std::vector<double> xs;
    std::regex marker(R"re(<line class="marker" x1="([-\d.]+)")re");
    for (auto it = std::sregex_iterator(svg.begin(), svg.end(), marker); it != std::sregex_iterator(); ++it)
      xs.push_back(std::stod((*it)[1]));
    REQUIRE(xs.size() == 3);
    std::sort(xs.begin(), xs.end());
    // The time axis runs from 0 to the run's 90 s.
    CHECK(xs[1] == doctest::Approx(frame.x + frame.width * 32.1 / 90).epsilon(0.001));
    CHECK(xs[2] == doctest::Approx(frame.x + frame.width * 61.8 / 90).epsilon(0.001));
  }
}

TEST_CASE("text from the record is escaped everywhere") {
  DemoRecord record = sampleRecord();
  std::string evil = "<b>\"x\" & y</b>";
  record.title = evil;
  record.topology = evil;
  record.replans[1].reason = evil;
  record.replans[1].placement = evil;
  record.load[0].device = evil;
  record.links[0].from = evil;
  record.curves[0].points[0].placement = evil;
  record.facts.push_back({evil, evil});
  std::string html = renderDemoReport(record);
  CHECK(html.find(evil) == std::string::npos);
  CHECK(html.find("<b>") == std::string::npos);
  CHECK(count(html, "&lt;b&gt;&quot;x&quot; &amp; y&lt;/b&gt;") >= 8);
  auto error = findMarkupError(html);
  CHECK_MESSAGE(!error, (error ? *error : ""));
}

TEST_CASE("an empty record renders a valid page that says there is no data") {
  DemoRecord record;
  std::string html = renderDemoReport(record);
  auto error = findMarkupError(html);
  CHECK_MESSAGE(!error, (error ? *error : ""));
  for (const char* id : {"latency-plot", "bandwidth-plot", "load-plot", "curve-plot"}) {
    CAPTURE(id);
    std::string svg = svgById(html, id);
    REQUIRE_FALSE(svg.empty());
    CHECK(svg.find("no data") != std::string::npos);
  }
  CHECK(html.find("No re-plans were recorded.") != std::string::npos);
  CHECK(html.find("<th>requests</th><td class=\"num\">0</td>") != std::string::npos);
  CHECK(html.find("<th>p95 latency</th><td class=\"num\">–</td>") != std::string::npos);

  // Re-plans but no requests: the latency plot still says it has no data.
  record.replans = {{1, 1, "first", std::nullopt, 0.02, "a"}};
  html = renderDemoReport(record);
  CHECK(svgById(html, "latency-plot").find("no data") != std::string::npos);
  CHECK(html.find("No re-plans were recorded.") == std::string::npos);
}

TEST_CASE("a long run stays small: series are downsampled, spikes kept") {
  DemoRecord record = sampleRecord();
  record.requests.clear();
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> latency(0.015, 0.025);
  for (int i = 0; i < 50000; ++i) record.requests.push_back({i * 0.0018, latency(rng), 1, true, false});
  record.requests[31415].latencySeconds = 0.5;  // one slow request must stay visible
  LinkSeries& link = record.links[0];
  link.samples.clear();
  for (int i = 0; i < 20000; ++i) link.samples.push_back({i * 0.0045, 2.5e6, 2.5e6});
  std::string html = renderDemoReport(record);
  CHECK(html.size() < 400'000);
  std::string svg = svgById(html, "latency-plot");
  // Cut out by hand: std::regex recurses per character and overflows on long attributes.
  std::string prefix = "<path class=\"dots\" d=\"";
  size_t begin = svg.find(prefix);
  REQUIRE(begin != std::string::npos);
  begin += prefix.size();
  std::string d = svg.substr(begin, svg.find('"', begin) - begin);
  CHECK(count(d, "M") <= 2000);
  // The slow request is the highest dot: at the top of the auto-ranged axis (0 .. 500 ms).
  Rect frame = frameOf(svg);
  double x = frame.x + frame.width * record.requests[31415].startSeconds / 90;
  double y = frame.y;
  std::regex dot(R"re(M([-\d.]+),([-\d.]+)h0)re");
  bool found = false;
  for (auto it = std::sregex_iterator(d.begin(), d.end(), dot); it != std::sregex_iterator(); ++it)
    found = found || (std::abs(std::stod((*it)[1]) - x) < 0.06 && std::abs(std::stod((*it)[2]) - y) < 0.06);
  CHECK(found);
}

}  // namespace cleave::demo
