#include "config/bandwidth_trace.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "config/toml_reader.h"

namespace cleave::config {
namespace {

constexpr std::array<std::string_view, 3> COLUMNS{"time_s", "bandwidth_bps", "rtt_ms"};
constexpr double INF = std::numeric_limits<double>::infinity();

std::string_view trimmed(std::string_view s) {
  constexpr std::string_view SPACE = " \t\r\v\f";
  size_t first = s.find_first_not_of(SPACE);
  if (first == std::string_view::npos) return {};
  size_t last = s.find_last_not_of(SPACE);
  return s.substr(first, last - first + 1);
}

std::vector<std::string_view> splitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (true) {
    size_t comma = line.find(',', pos);
    fields.push_back(trimmed(line.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos)));
    if (comma == std::string_view::npos) return fields;
    pos = comma + 1;
  }
}

// A header is told from a row by its first field starting with a letter; "inf" and "nan" start
// with letters too but are (rejected) numbers, so they are reported as such, not as a bad header.
bool looksLikeHeader(std::string_view firstField) {
  if (firstField.empty() || !std::isalpha(static_cast<unsigned char>(firstField[0]))) return false;
  std::string lower;
  for (char c : firstField) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return lower != "inf" && lower != "infinity" && lower != "nan";
}

// Collects every mistake of one file, each "file:line: message".
class TraceErrors {
 public:
  explicit TraceErrors(std::string_view file) : file_(file) {}
  void add(size_t line, const std::string& message) {
    errors_.push_back(fmt::format("{}:{}: {}", file_, line, message));
  }
  void addForFile(const std::string& message) { errors_.push_back(fmt::format("{}: {}", file_, message)); }
  bool any() const { return !errors_.empty(); }
  Error toError() const { return Error{fmt::format("{}", fmt::join(errors_, "\n"))}; }

 private:
  std::string_view file_;
  std::vector<std::string> errors_;
};

// A finite number filling the whole field, or nullopt after reporting why not.
std::optional<double> parseNumber(std::string_view field, std::string_view column, size_t line, TraceErrors& errors) {
  double value = 0;
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  if (field.empty() || ec != std::errc() || end != field.data() + field.size()) {
    errors.add(line, fmt::format("{}: '{}' is not a number", column, field));
    return std::nullopt;
  }
  if (!std::isfinite(value)) {
    errors.add(line, fmt::format("{}: '{}' is not finite", column, field));
    return std::nullopt;
  }
  return value;
}

void checkHeader(const std::vector<std::string_view>& fields, size_t line, TraceErrors& errors) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i >= COLUMNS.size()) {
      errors.add(line, fmt::format("unknown column '{}' (a trace has columns time_s,bandwidth_bps,rtt_ms)", fields[i]));
    } else if (fields[i] != COLUMNS[i]) {
      errors.add(line, fmt::format("column {} is '{}', expected '{}' (a trace has columns time_s,bandwidth_bps,rtt_ms)",
                                   i + 1, fields[i], COLUMNS[i]));
    }
  }
  if (fields.size() < COLUMNS.size()) {
    errors.add(line, fmt::format("header has {} columns, expected time_s,bandwidth_bps,rtt_ms", fields.size()));
  }
}

}  // namespace

Result<BandwidthTrace> BandwidthTrace::parse(std::string_view text, std::string_view fileName) {
  TraceErrors errors(fileName);
  std::vector<TracePoint> points;
  std::optional<double> previousTime;  // of the last well-formed row, for the ordering check
  bool sawContent = false;             // a header is only allowed before any row
  size_t rows = 0;
  size_t lineNumber = 0;
  for (size_t pos = 0; pos <= text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineNumber;
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    line = trimmed(line);
    if (line.empty()) continue;

    std::vector<std::string_view> fields = splitFields(line);
    if (!sawContent && looksLikeHeader(fields[0])) {
      sawContent = true;
      checkHeader(fields, lineNumber, errors);
      continue;
    }
    sawContent = true;
    if (++rows > MAX_ROWS) {
      errors.add(lineNumber, fmt::format("more than {} rows; a trace this long is a mistake", MAX_ROWS));
      break;
    }
    if (fields.size() != COLUMNS.size()) {
      errors.add(lineNumber, fmt::format("expected 3 fields (time_s,bandwidth_bps,rtt_ms), found {}", fields.size()));
      continue;
    }
    std::optional<double> time = parseNumber(fields[0], COLUMNS[0], lineNumber, errors);
    std::optional<double> bits = parseNumber(fields[1], COLUMNS[1], lineNumber, errors);
    std::optional<double> rttMs = parseNumber(fields[2], COLUMNS[2], lineNumber, errors);
    bool good = time && bits && rttMs;
    if (time) {
      if (rows == 1 && *time != 0) {
        errors.add(lineNumber, fmt::format("time_s: the first row must be at 0, found {}", fields[0]));
        good = false;
      } else if (previousTime && *time <= *previousTime) {
        errors.add(lineNumber,
                   fmt::format("time_s: {} is not after the previous row's {} (times must strictly increase)",
                               fields[0], *previousTime));
        good = false;
      }
    }
    if (bits && *bits < 0) {
      errors.add(lineNumber, fmt::format("bandwidth_bps: {} is negative (0 marks a drop-out)", fields[1]));
      good = false;
    }
    if (rttMs && *rttMs < 0) {
      errors.add(lineNumber, fmt::format("rtt_ms: {} is negative", fields[2]));
      good = false;
    }
    if (time && *time > MAX_SECONDS) {
      errors.add(lineNumber, fmt::format("time_s: {} is beyond the limit of {} s", fields[0], MAX_SECONDS));
      good = false;
    }
    if (bits && *bits > MAX_BITS_PER_SECOND) {
      errors.add(lineNumber,
                 fmt::format("bandwidth_bps: {} is beyond the limit of {}", fields[1], MAX_BITS_PER_SECOND));
      good = false;
    }
    if (rttMs && *rttMs > MAX_RTT_SECONDS * 1000) {
      errors.add(lineNumber, fmt::format("rtt_ms: {} is beyond the limit of {}", fields[2], MAX_RTT_SECONDS * 1000));
      good = false;
    }
    // A row with a good time still orders the next one, so one bad field does not cascade.
    if (time && (!previousTime || *time > *previousTime)) previousTime = *time;
    if (good) points.push_back(TracePoint{*time, *bits, *rttMs / 1000.0});
  }

  if (!errors.any()) {
    if (points.empty()) {
      errors.addForFile("no rows (expected lines of time_s,bandwidth_bps,rtt_ms)");
    } else if (std::all_of(points.begin(), points.end(), [](const TracePoint& p) { return p.bitsPerSecond == 0; })) {
      errors.addForFile("bandwidth_bps is 0 on every row; the link would never carry data");
    }
  }
  if (errors.any()) return errors.toError();
  return BandwidthTrace(std::move(points));
}

Result<BandwidthTrace> BandwidthTrace::load(const std::string& path) {
  Result<std::string> text = readTextFile(path);
  if (!text) return text.error();
  return parse(*text, path);
}

Result<BandwidthTrace> BandwidthTrace::fromPoints(std::vector<TracePoint> points, std::string_view what) {
  if (points.empty()) return Error{fmt::format("{}: no points", what)};
  if (points.size() > MAX_ROWS) return Error{fmt::format("{}: more than {} points", what, MAX_ROWS)};
  bool anyRate = false;
  for (size_t i = 0; i < points.size(); ++i) {
    const TracePoint& p = points[i];
    if (!std::isfinite(p.timeSeconds) || !std::isfinite(p.bitsPerSecond) || !std::isfinite(p.rttSeconds))
      return Error{fmt::format("{}: point {}: not a finite number", what, i + 1)};
    if (i == 0 && p.timeSeconds != 0) return Error{fmt::format("{}: point 1: the time must be 0", what)};
    if (i > 0 && p.timeSeconds <= points[i - 1].timeSeconds)
      return Error{fmt::format("{}: point {}: times must strictly increase", what, i + 1)};
    if (p.bitsPerSecond < 0 || p.rttSeconds < 0)
      return Error{fmt::format("{}: point {}: bandwidth and RTT must be 0 or more", what, i + 1)};
    if (p.timeSeconds > MAX_SECONDS || p.bitsPerSecond > MAX_BITS_PER_SECOND || p.rttSeconds > MAX_RTT_SECONDS)
      return Error{fmt::format("{}: point {}: beyond the limits ({} s, {} bit/s, RTT {} s)", what, i + 1, MAX_SECONDS,
                               MAX_BITS_PER_SECOND, MAX_RTT_SECONDS)};
    anyRate = anyRate || p.bitsPerSecond > 0;
  }
  if (!anyRate) return Error{fmt::format("{}: the bandwidth is 0 at every point", what)};
  return BandwidthTrace(std::move(points));
}

BandwidthTrace BandwidthTrace::constant(double bytesPerSecond, double rttSeconds) {
  return BandwidthTrace({TracePoint{0, bytesPerSecond * 8, rttSeconds}});
}

BandwidthTrace::BandwidthTrace(std::vector<TracePoint> points) : points_(std::move(points)) {
  size_t n = points_.size();
  bytesPerSecond_.reserve(n);
  for (const TracePoint& p : points_) bytesPerSecond_.push_back(p.bitsPerSecond / 8);
  cumulativeBytes_.assign(1, 0.0);
  if (n == 1) {
    period_ = INF;
    periodBytes_ = INF;
    return;
  }
  period_ = 2 * points_[n - 1].timeSeconds - points_[n - 2].timeSeconds;
  for (size_t i = 0; i < n; ++i) {
    double rowEnd = i + 1 < n ? points_[i + 1].timeSeconds : period_;
    cumulativeBytes_.push_back(cumulativeBytes_.back() + bytesPerSecond_[i] * (rowEnd - points_[i].timeSeconds));
  }
  periodBytes_ = cumulativeBytes_.back();
}

BandwidthTrace::Wrapped BandwidthTrace::wrap(double t) const {
  if (!(t > 0)) return {0, 0};  // negative times and NaN read as the trace's start
  if (points_.size() == 1) return {0, t};
  double periods = std::floor(t / period_);
  double offset = t - periods * period_;
  if (offset >= period_) {  // rounding in the division
    offset -= period_;
    periods += 1;
  }
  return {periods, std::max(offset, 0.0)};
}

size_t BandwidthTrace::rowAt(double offset) const {
  auto after = std::upper_bound(points_.begin(), points_.end(), offset,
                                [](double t, const TracePoint& p) { return t < p.timeSeconds; });
  return after == points_.begin() ? 0 : static_cast<size_t>(after - points_.begin()) - 1;
}

double BandwidthTrace::bytesInto(double offset) const {
  size_t row = rowAt(offset);
  return cumulativeBytes_[row] + bytesPerSecond_[row] * (offset - points_[row].timeSeconds);
}

double BandwidthTrace::bytesPerSecondAt(double t) const { return bytesPerSecond_[rowAt(wrap(t).offset)]; }

double BandwidthTrace::rttSecondsAt(double t) const { return points_[rowAt(wrap(t).offset)].rttSeconds; }

double BandwidthTrace::bytesBetween(double a, double b) const {
  a = std::max(a, 0.0);
  if (!(b > a)) return 0;
  if (points_.size() == 1) return bytesPerSecond_[0] * (b - a);
  // Whole periods and offsets kept apart, so the sum of a long run does not swamp a short one.
  Wrapped from = wrap(a);
  Wrapped to = wrap(b);
  double bytes = (to.periods - from.periods) * periodBytes_ + bytesInto(to.offset) - bytesInto(from.offset);
  return std::max(bytes, 0.0);
}

double BandwidthTrace::transmitEnd(double start, double bytes) const {
  if (!(bytes > 0)) return start;
  double begin = std::max(start, 0.0);
  if (points_.size() == 1) return bytesPerSecond_[0] > 0 ? begin + bytes / bytesPerSecond_[0] : INF;

  // Count bytes from the start of `begin`'s period: the transfer ends where that count reaches
  // `target`, after `extra` whole periods and `remainder` bytes into the last one.
  Wrapped from = wrap(begin);
  double target = bytesInto(from.offset) + bytes;
  double extra = std::floor(target / periodBytes_);
  double remainder = target - extra * periodBytes_;
  // Ending exactly on a period boundary: the last byte went out before any trailing drop-out
  // rows, so look for it at the end of the previous period rather than at 0 of the next.
  if (remainder <= 0 && extra > 0) {
    extra -= 1;
    remainder += periodBytes_;
  }
  remainder = std::clamp(remainder, std::numeric_limits<double>::min(), periodBytes_);
  // The row in which the count first reaches `remainder`: cumulativeBytes_[row] < remainder <=
  // cumulativeBytes_[row + 1], so that row's rate is positive (drop-outs are skipped here).
  size_t next = static_cast<size_t>(std::lower_bound(cumulativeBytes_.begin(), cumulativeBytes_.end(), remainder) -
                                    cumulativeBytes_.begin());
  size_t row = std::clamp<size_t>(next, 1, points_.size()) - 1;
  double rowEnd = row + 1 < points_.size() ? points_[row + 1].timeSeconds : period_;
  double offset = points_[row].timeSeconds + (remainder - cumulativeBytes_[row]) / bytesPerSecond_[row];
  offset = std::min(offset, rowEnd);
  return std::max((from.periods + extra) * period_ + offset, begin);
}

}  // namespace cleave::config
