// Bandwidth traces: the CSV format and each kind of mistake at its file:line, lookups with
// wrap-around, and transmitEnd/bytesBetween against hand-worked cases and a brute-force
// integration; the shipped traces in configs/traces/ load and stay in the ranges their README states.
#include "config/bandwidth_trace.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "config/trace_reference_for_tests.h"

namespace cleave::config {
namespace {

using testing::ReferenceTrace;

const std::string FILE_NAME = "traces/test.csv";

BandwidthTrace parsed(const std::string& text) {
  Result<BandwidthTrace> trace = BandwidthTrace::parse(text, FILE_NAME);
  REQUIRE_MESSAGE(trace.ok(), trace.error().message);
  return *trace;
}

std::string errorsFor(const std::string& text) {
  Result<BandwidthTrace> trace = BandwidthTrace::parse(text, FILE_NAME);
  REQUIRE_FALSE(trace.ok());
  return trace.error().message;
}

#define CHECK_ERROR(errors, expected)                                        \
  do {                                                                       \
    INFO(errors);                                                            \
    CHECK((errors).find(FILE_NAME + ":" + (expected)) != std::string::npos); \
  } while (0)

// Rows: [0,1) 1000 B/s rtt 10 ms, [1,3) 2000 B/s rtt 20 ms, [3,5) drop-out rtt 30 ms; period 5 s
// carrying 1000 + 4000 = 5000 bytes.
const std::string HAND = "0,8000,10\n1,16000,20\n3,0,30\n";

// A random trace whose row times lie on a 50 ms grid, as CSV text and as rows; about a fifth of
// rows are drop-outs, the rest 8 kbit/s..8 Mbit/s.
std::string randomTraceCsv(std::mt19937& rng, int rows) {
  std::uniform_int_distribution<int> length(1, 40);  // x 50 ms
  std::uniform_real_distribution<double> logRate(std::log(8e3), std::log(8e6));
  std::uniform_int_distribution<int> rtt(0, 200);
  std::bernoulli_distribution dropOut(0.2);
  std::string csv = "time_s,bandwidth_bps,rtt_ms\n";
  int ticks = 0;
  bool anyPositive = false;
  for (int i = 0; i < rows; ++i) {
    bool zero = dropOut(rng) && !(i == rows - 1 && !anyPositive);
    long bits = zero ? 0 : std::lround(std::exp(logRate(rng)));
    anyPositive = anyPositive || bits > 0;
    csv += std::to_string(ticks / 20) + "." + std::to_string(ticks % 20 * 5 / 10) +
           std::to_string(ticks % 20 * 5 % 10) + "," + std::to_string(bits) + "," + std::to_string(rtt(rng)) + "\n";
    ticks += length(rng);
  }
  return csv;
}

}  // namespace

TEST_CASE("a trace file: header, comments, blank lines, CRLF; bits become bytes, ms become seconds") {
  BandwidthTrace trace = parsed(
      "# a comment\n"
      "\n"
      "time_s,bandwidth_bps,rtt_ms\r\n"
      "0, 800000 ,12.5   # a row with a comment\r\n"
      "  \t\n"
      "0.5,0,80\n"
      "2,1.6e6,3");  // no final newline
  REQUIRE(trace.points().size() == 3);
  CHECK(trace.points()[0].timeSeconds == 0);
  CHECK(trace.points()[0].bitsPerSecond == 800000);
  CHECK(trace.points()[0].rttSeconds == doctest::Approx(0.0125));
  CHECK(trace.points()[1].bitsPerSecond == 0);
  CHECK(trace.points()[2].timeSeconds == 2);
  CHECK(trace.points()[2].bitsPerSecond == 1.6e6);
  CHECK(trace.points()[2].rttSeconds == doctest::Approx(0.003));
  CHECK(trace.bytesPerSecondAt(0.25) == 100000);
  CHECK(trace.bytesPerSecondAt(1) == 0);
  CHECK(trace.bytesPerSecondAt(2.5) == 200000);
  // The last row lasts as long as the one before it (1.5 s): period 3.5 s.
  CHECK(trace.period() == doctest::Approx(3.5));

  // The header is optional.
  CHECK(parsed("0,8,1\n").points().size() == 1);
}

TEST_CASE("mistakes in a trace file are each reported at file:line with the field") {
  SUBCASE("every mistake of a file in one run") {
    std::string errors = errorsFor(
        "time_s,bandwidth_bps,rtt_ms\n"  // 1
        "0,1000,10\n"                    // 2
        "1,-5,10\n"                      // 3
        "2,1000,-1\n"                    // 4
        "2,1000,10\n"                    // 5
        "3,abc,10\n"                     // 6
        "4,1000\n"                       // 7
        "5,1000,10,7\n"                  // 8
        "6,inf,10\n"                     // 9
        "7,1000,nan\n"                   // 10
        "6.5,1000,10\n");                // 11
    CHECK_ERROR(errors, "3: bandwidth_bps: -5 is negative");
    CHECK_ERROR(errors, "4: rtt_ms: -1 is negative");
    CHECK_ERROR(errors, "5: time_s: 2 is not after the previous row's 2");
    CHECK_ERROR(errors, "6: bandwidth_bps: 'abc' is not a number");
    CHECK_ERROR(errors, "7: expected 3 fields (time_s,bandwidth_bps,rtt_ms), found 2");
    CHECK_ERROR(errors, "8: expected 3 fields (time_s,bandwidth_bps,rtt_ms), found 4");
    CHECK_ERROR(errors, "9: bandwidth_bps: 'inf' is not finite");
    CHECK_ERROR(errors, "10: rtt_ms: 'nan' is not finite");
    CHECK_ERROR(errors, "11: time_s: 6.5 is not after the previous row's 7");
    // Nothing about the good rows.
    CHECK(errors.find(FILE_NAME + ":2:") == std::string::npos);
    CHECK(std::count(errors.begin(), errors.end(), '\n') == 8);
  }
  SUBCASE("the first row is at time 0") {
    CHECK_ERROR(errorsFor("# starts late\n1,1000,10\n2,1000,10\n"), "2: time_s: the first row must be at 0, found 1");
  }
  SUBCASE("unknown or misnamed columns") {
    CHECK_ERROR(errorsFor("time_s,bandwidth_bps,rtt_ms,loss\n0,1,1\n"), "1: unknown column 'loss'");
    CHECK_ERROR(errorsFor("time_s,bandwidth_kbps,rtt_ms\n0,1,1\n"),
                "1: column 2 is 'bandwidth_kbps', expected 'bandwidth_bps'");
    CHECK_ERROR(errorsFor("time_s,bandwidth_bps\n0,1,1\n"), "1: header has 2 columns");
    // A header after the first row is not a header.
    CHECK_ERROR(errorsFor("0,1,1\ntime_s,bandwidth_bps,rtt_ms\n"), "2: time_s: 'time_s' is not a number");
  }
  SUBCASE("no rows, or no bandwidth anywhere") {
    CHECK(errorsFor("") == FILE_NAME + ": no rows (expected lines of time_s,bandwidth_bps,rtt_ms)");
    CHECK(errorsFor("# only\ntime_s,bandwidth_bps,rtt_ms\n\n") ==
          FILE_NAME + ": no rows (expected lines of time_s,bandwidth_bps,rtt_ms)");
    CHECK(errorsFor("0,0,10\n1,0,10\n") ==
          FILE_NAME + ": bandwidth_bps is 0 on every row; the link would never carry data");
  }
  SUBCASE("at most MAX_ROWS rows") {
    std::string text;
    for (size_t i = 0; i <= BandwidthTrace::MAX_ROWS; ++i) text += std::to_string(i) + ",1000,1\n";
    CHECK_ERROR(errorsFor(text), std::to_string(BandwidthTrace::MAX_ROWS + 1) + ": more than 100000 rows");
    text.erase(text.rfind(std::to_string(BandwidthTrace::MAX_ROWS) + ","));
    CHECK(parsed(text).points().size() == BandwidthTrace::MAX_ROWS);
  }
  SUBCASE("a missing file") {
    Result<BandwidthTrace> trace = BandwidthTrace::load("/nonexistent/trace.csv");
    REQUIRE_FALSE(trace.ok());
    CHECK(trace.error().message == "/nonexistent/trace.csv: cannot open file");
  }
}

TEST_CASE("rate and RTT lookups are piecewise constant and wrap around the period") {
  BandwidthTrace trace = parsed(HAND);
  CHECK(trace.period() == 5);
  struct Case {
    double t, rate, rtt;
  };
  for (Case c : std::vector<Case>{{0, 1000, 0.01},
                                  {0.999, 1000, 0.01},
                                  {1, 2000, 0.02},
                                  {2.99, 2000, 0.02},
                                  {3, 0, 0.03},
                                  {4.99, 0, 0.03},
                                  {5, 1000, 0.01},
                                  {6.5, 2000, 0.02},
                                  {1e6 + 3.5, 0, 0.03},
                                  {-1, 1000, 0.01}}) {
    CAPTURE(c.t);
    CHECK(trace.bytesPerSecondAt(c.t) == c.rate);
    CHECK(trace.rttSecondsAt(c.t) == doctest::Approx(c.rtt));
  }
}

TEST_CASE("a single-row trace and constant() are constant forever") {
  for (const BandwidthTrace& trace : {parsed("0,8000000,20\n"), BandwidthTrace::constant(1e6, 0.02)}) {
    CHECK(std::isinf(trace.period()));
    CHECK(trace.bytesPerSecondAt(0) == 1e6);
    CHECK(trace.bytesPerSecondAt(1e9) == 1e6);
    CHECK(trace.rttSecondsAt(123) == doctest::Approx(0.02));
    CHECK(trace.transmitEnd(2, 5e5) == doctest::Approx(2.5));
    CHECK(trace.bytesBetween(2, 2.5) == doctest::Approx(5e5));
    REQUIRE(trace.points().size() == 1);
    CHECK(trace.points()[0].bitsPerSecond == 8e6);
  }
  CHECK(std::isinf(BandwidthTrace::constant(0, 0).transmitEnd(0, 1)));
}

TEST_CASE("transmitEnd and bytesBetween on hand-worked cases") {
  BandwidthTrace trace = parsed(HAND);
  CHECK(trace.transmitEnd(0, 0) == 0);
  CHECK(trace.transmitEnd(4, -3) == 4);
  CHECK(trace.transmitEnd(0, 500) == doctest::Approx(0.5));
  CHECK(trace.transmitEnd(0, 1000) == doctest::Approx(1));
  CHECK(trace.transmitEnd(0, 3000) == doctest::Approx(2));
  // A whole period's bytes are all out at 3 s, before the drop-out, not at 5 s.
  CHECK(trace.transmitEnd(0, 5000) == doctest::Approx(3));
  CHECK(trace.transmitEnd(0, 10000) == doctest::Approx(8));
  // One byte more waits through the drop-out.
  CHECK(trace.transmitEnd(0, 5001) == doctest::Approx(5.001));
  // Starting inside the drop-out.
  CHECK(trace.transmitEnd(3.5, 1) == doctest::Approx(5.001));
  // From 0.5: 500 + 4000 by 3 s, a whole period to 8 s (9500), then 1000 at 1000 B/s from 10 s.
  CHECK(trace.transmitEnd(0.5, 10500) == doctest::Approx(11));
  // A million periods and a bit: whole-period arithmetic, exact.
  CHECK(trace.transmitEnd(0, 1e6 * 5000 + 1000) == doctest::Approx(5e6 + 1).epsilon(1e-12));
  CHECK(trace.transmitEnd(2, 3e6 * 5000) == doctest::Approx(2 + 3e6 * 5).epsilon(1e-12));

  CHECK(trace.bytesBetween(0, 1) == doctest::Approx(1000));
  CHECK(trace.bytesBetween(0.5, 2) == doctest::Approx(2500));
  CHECK(trace.bytesBetween(3, 5) == 0);
  CHECK(trace.bytesBetween(2, 2) == 0);
  CHECK(trace.bytesBetween(3, 2) == 0);
  CHECK(trace.bytesBetween(0.5, 11) == doctest::Approx(10500));
  CHECK(trace.bytesBetween(4, 4 + 5e6) == doctest::Approx(5e9).epsilon(1e-12));
}

TEST_CASE("transmitEnd and bytesBetween match a brute-force integration on random traces") {
  std::mt19937 rng(1234);
  const double STEP = 0.0005;  // divides the 50 ms row grid: every step lies inside one row
  for (int trial = 0; trial < 40; ++trial) {
    std::uniform_int_distribution<int> rowCount(2, 25);
    BandwidthTrace trace = parsed(randomTraceCsv(rng, rowCount(rng)));
    ReferenceTrace reference(trace.points());
    CAPTURE(trial);
    // Integrate step by step from a start on the step grid until the bytes are carried.
    std::uniform_int_distribution<int> startStep(0, static_cast<int>(2 * reference.periodSeconds / STEP));
    double periodBytes = 0;
    for (long i = 0; i * STEP < reference.periodSeconds; ++i)
      periodBytes += reference.bytesPerSecond((i + 0.5) * STEP) * STEP;
    std::uniform_real_distribution<double> fraction(0.001, 2.5);
    for (int message = 0; message < 5; ++message) {
      long first = startStep(rng);
      double start = first * STEP;
      double bytes = fraction(rng) * periodBytes;
      double carried = 0;
      double expected = 0;
      for (long i = first;; ++i) {
        double rate = reference.bytesPerSecond((i + 0.5) * STEP);
        if (carried + rate * STEP >= bytes) {
          expected = i * STEP + (bytes - carried) / rate;
          break;
        }
        carried += rate * STEP;
      }
      CAPTURE(start);
      CAPTURE(bytes);
      double end = trace.transmitEnd(start, bytes);
      CHECK(end == doctest::Approx(expected).epsilon(1e-9).scale(1));
      CHECK(trace.bytesBetween(start, expected) == doctest::Approx(bytes).epsilon(1e-9));
    }
  }
}

TEST_CASE("bytesBetween(start, transmitEnd(start, b)) == b, and the end is the earliest such time") {
  std::mt19937 rng(99);
  for (int trial = 0; trial < 200; ++trial) {
    std::uniform_int_distribution<int> rowCount(2, 40);
    BandwidthTrace trace = parsed(randomTraceCsv(rng, rowCount(rng)));
    double periodBytes = trace.bytesBetween(0, trace.period());
    std::uniform_real_distribution<double> startAt(0, 50 * trace.period());
    std::uniform_real_distribution<double> logPeriods(std::log(1e-7), std::log(1e4));
    for (int message = 0; message < 10; ++message) {
      double start = startAt(rng);
      double bytes = std::exp(logPeriods(rng)) * periodBytes;
      double end = trace.transmitEnd(start, bytes);
      CAPTURE(trial);
      CAPTURE(start);
      CAPTURE(bytes);
      CHECK(end >= start);
      CHECK(trace.bytesBetween(start, end) == doctest::Approx(bytes).epsilon(1e-6));
      // It ends while sending, not after waiting in a drop-out: just before the end (a few
      // units in the last place, far less than any row) the link is carrying data.
      double justBefore = end - 64 * (std::nextafter(end, INFINITY) - end);
      CHECK(trace.bytesPerSecondAt(justBefore) > 0);
    }
  }
}

// The traces shipped in configs/traces/, against the ranges configs/traces/README.md states.
TEST_CASE("the shipped traces load and stay in their stated ranges") {
  const std::string dir = std::string(CLEAVE_SOURCE_DIR) + "/configs/traces/";
  struct Expected {
    std::string file;
    double rowSeconds, minBits, maxBits, minRttMs, maxRttMs;
  };
  for (const Expected& e : std::vector<Expected>{{"ble-walk.csv", 0.5, 50e3, 250e3, 30, 80},
                                                 {"wifi-steps.csv", 1, 1e6, 50e6, 3, 20},
                                                 {"lte-drive.csv", 1, 2e6, 40e6, 40, 90}}) {
    CAPTURE(e.file);
    Result<BandwidthTrace> loaded = BandwidthTrace::load(dir + e.file);
    REQUIRE_MESSAGE(loaded.ok(), loaded.error().message);
    const BandwidthTrace& trace = *loaded;
    CHECK(trace.period() == doctest::Approx(60));
    const std::vector<TracePoint>& rows = trace.points();
    REQUIRE(rows.size() == static_cast<size_t>(std::lround(60 / e.rowSeconds)));
    double lowest = INFINITY, highest = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      CAPTURE(rows[i].timeSeconds);
      CHECK(rows[i].timeSeconds == doctest::Approx(static_cast<double>(i) * e.rowSeconds));
      CHECK(rows[i].rttSeconds * 1000 >= e.minRttMs - 1e-9);
      CHECK(rows[i].rttSeconds * 1000 <= e.maxRttMs + 1e-9);
      if (rows[i].bitsPerSecond == 0) continue;  // drop-outs, counted below
      lowest = std::min(lowest, rows[i].bitsPerSecond);
      highest = std::max(highest, rows[i].bitsPerSecond);
    }
    // Each trace spans (nearly) its whole range, so the best split changes along the way.
    CHECK(lowest >= e.minBits);
    CHECK(highest <= e.maxBits);
    CHECK(lowest <= e.minBits * 1.2);
    CHECK(highest >= e.maxBits * 0.9);
  }

  BandwidthTrace ble = *BandwidthTrace::load(dir + "ble-walk.csv");
  // Two drop-outs of about a second each: nothing moves through them.
  int dropOuts = 0;
  double zeroSeconds = 0;
  const std::vector<TracePoint>& rows = ble.points();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].bitsPerSecond != 0) continue;
    zeroSeconds += 0.5;
    if (i == 0 || rows[i - 1].bitsPerSecond != 0) ++dropOuts;
  }
  CHECK(dropOuts == 2);
  CHECK(zeroSeconds == doctest::Approx(2));
  CHECK(ble.bytesBetween(17, 18) == 0);
  CHECK(ble.bytesBetween(44, 45) == 0);

  // WiFi: only the four rate steps, each held 5-10 s.
  BandwidthTrace wifi = *BandwidthTrace::load(dir + "wifi-steps.csv");
  std::set<double> levels;
  int held = 0;
  for (size_t i = 0; i < wifi.points().size(); ++i) {
    levels.insert(wifi.points()[i].bitsPerSecond);
    ++held;
    bool last = i + 1 == wifi.points().size();
    if (last || wifi.points()[i + 1].bitsPerSecond != wifi.points()[i].bitsPerSecond) {
      CAPTURE(i);
      CHECK(held >= 5);
      CHECK(held <= 10);
      held = 0;
    }
  }
  CHECK(levels == std::set<double>{1e6, 5e6, 20e6, 50e6});

  // LTE: a new rate every second.
  BandwidthTrace lte = *BandwidthTrace::load(dir + "lte-drive.csv");
  for (size_t i = 1; i < lte.points().size(); ++i) {
    CHECK(lte.points()[i].bitsPerSecond != lte.points()[i - 1].bitsPerSecond);
  }
}

}  // namespace cleave::config

TEST_CASE("points from a LinkShape message follow the file's rules") {
  using cleave::config::BandwidthTrace;
  using cleave::config::TracePoint;
  auto made = BandwidthTrace::fromPoints({{0, 8e6, 0.01}, {1, 0, 0.01}, {3, 4e6, 0.02}}, "link shape");
  REQUIRE(made.ok());
  CHECK(made->bytesPerSecondAt(0.5) == 1e6);
  CHECK(made->bytesPerSecondAt(1.5) == 0);
  CHECK(made->period() == doctest::Approx(5.0));
  CHECK(BandwidthTrace::fromPoints({}, "x").error().message == "x: no points");
  CHECK(BandwidthTrace::fromPoints({{1, 8e6, 0}}, "x").error().message == "x: point 1: the time must be 0");
  CHECK(BandwidthTrace::fromPoints({{0, 8e6, 0}, {0, 8e6, 0}}, "x").error().message ==
        "x: point 2: times must strictly increase");
  CHECK(BandwidthTrace::fromPoints({{0, -1, 0}}, "x").error().message ==
        "x: point 1: bandwidth and RTT must be 0 or more");
  CHECK(BandwidthTrace::fromPoints({{0, 0, 0}, {1, 0, 0}}, "x").error().message ==
        "x: the bandwidth is 0 at every point");
  CHECK_FALSE(BandwidthTrace::fromPoints({{0, std::nan(""), 0}}, "x").ok());
  CHECK(BandwidthTrace::fromPoints({{0, 8e6, 0}, {1e300, 8e6, 0}}, "x").error().message ==
        "x: point 2: beyond the limits (320000000 s, 1000000000000000 bit/s, RTT 1000 s)");
}

TEST_CASE("figures so large that the period or its bytes overflow are refused (fuzz/regressions/bandwidth_trace)") {
  using cleave::config::BandwidthTrace;
  // 2 x 1e308 made the period infinite and every transmitEnd NaN.
  cleave::Result<BandwidthTrace> huge = BandwidthTrace::parse("0,1e6,1\n1e308,0,1\n", "t.csv");
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.error().message == "t.csv:2: time_s: 1e308 is beyond the limit of 320000000 s");
  CHECK(BandwidthTrace::parse("0,1e16,1e7\n", "t.csv").error().message ==
        "t.csv:1: bandwidth_bps: 1e16 is beyond the limit of 1000000000000000\n"
        "t.csv:1: rtt_ms: 1e7 is beyond the limit of 1000000");
  // At the limits everything stays finite.
  cleave::Result<BandwidthTrace> edge = BandwidthTrace::parse("0,1e15,1e6\n3.2e8,1,0\n", "t.csv");
  REQUIRE(edge.ok());
  CHECK(std::isfinite(edge->transmitEnd(1e9, 1e20)));
}
