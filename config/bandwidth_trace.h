// Bandwidth traces: how a link's rate and round-trip time change over time, read from CSV
// (`time_s,bandwidth_bps,rtt_ms`) so tests and demos can replay a BLE walk, WiFi rate steps or an
// LTE drive through the in-process link shaper (agent/link_shaper.h). Format and the shipped
// traces: configs/traces/README.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "runtime/result.h"

namespace cleave::config {

// One row of a trace file, in the file's units except RTT: bits per second, seconds.
struct TracePoint {
  double timeSeconds;
  double bitsPerSecond;
  double rttSeconds;
};

// A piecewise-constant link trace. Row i holds from its time until row i+1's time. The trace
// repeats with period = last time + (last time - previous time), so the last row lasts as long as
// the one before it; a single row is constant forever. A rate of 0 is a drop-out: nothing moves
// until the rate comes back. The API speaks bytes per second (the file's bits / 8).
class BandwidthTrace {
 public:
  // Parses CSV text. `# ...` comments (whole lines or after a row) and blank lines are ignored; an
  // optional header line `time_s,bandwidth_bps,rtt_ms`; every other line is three numbers. Every
  // mistake is reported, one per line, as `fileName:line: field: problem`: times must start at 0
  // and strictly increase, bandwidth >= 0 and not zero on every row, rtt >= 0, all finite and
  // within MAX_SECONDS, MAX_BITS_PER_SECOND and MAX_RTT_SECONDS, at most MAX_ROWS rows and at
  // least one. Other columns or extra fields are errors.
  static Result<BandwidthTrace> parse(std::string_view text, std::string_view fileName);
  // Reads and parses a trace file.
  static Result<BandwidthTrace> load(const std::string& path);
  // A link that never changes (period +infinity). `bytesPerSecond` should be > 0: at 0 nothing
  // is ever delivered (transmitEnd returns +infinity).
  static BandwidthTrace constant(double bytesPerSecond, double rttSeconds);
  // Points that came another way (a LinkShape message): the same rules as parse, reported as
  // "what: point N: ...".
  static Result<BandwidthTrace> fromPoints(std::vector<TracePoint> points, std::string_view what);

  // The rate and RTT at `t` seconds since the trace started (wrapping; t < 0 is taken as 0).
  double bytesPerSecondAt(double t) const;
  double rttSecondsAt(double t) const;
  // Length of one repetition in seconds; +infinity for a single-row (constant) trace.
  double period() const { return period_; }

  // When `bytes` have been carried if sending starts at `start` and proceeds at the trace's rate,
  // integrating across rows, waiting through drop-outs and wrapping around the period: the
  // earliest t with bytesBetween(start, t) == bytes. bytes <= 0 gives `start`. O(log rows): whole
  // periods are skipped arithmetically and the last partial one found by binary search.
  double transmitEnd(double start, double bytes) const;
  // Bytes the link can carry between times a and b (a <= b; 0 otherwise), wrapping.
  double bytesBetween(double a, double b) const;

  const std::vector<TracePoint>& points() const { return points_; }

  // A trace file larger than this is a mistake (a day at 1 s rows is 86400).
  static constexpr size_t MAX_ROWS = 100000;
  // Upper bounds on a row's figures, far beyond any real link, so that a period and the bytes
  // carried in one stay finite (2 x 1e300 seconds would make the period infinite and every
  // transmitEnd NaN): ten years, 1 Pbit/s, 1000 s.
  static constexpr double MAX_SECONDS = 3.2e8;
  static constexpr double MAX_BITS_PER_SECOND = 1e15;
  static constexpr double MAX_RTT_SECONDS = 1000;

 private:
  explicit BandwidthTrace(std::vector<TracePoint> points);

  // `t` as whole periods plus an offset in [0, period).
  struct Wrapped {
    double periods;
    double offset;
  };
  Wrapped wrap(double t) const;
  // The row holding at `offset` in [0, period).
  size_t rowAt(double offset) const;
  // Bytes carried from the start of a period to `offset` within it.
  double bytesInto(double offset) const;

  std::vector<TracePoint> points_;
  std::vector<double> bytesPerSecond_;  // per row
  // cumulativeBytes_[i]: bytes carried from the period's start to row i's time; one extra entry at
  // the end holds a whole period's bytes (periodBytes_).
  std::vector<double> cumulativeBytes_;
  double period_ = 0;
  double periodBytes_ = 0;
};

}  // namespace cleave::config
