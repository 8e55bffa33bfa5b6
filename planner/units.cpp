#include "planner/units.h"

#include <charconv>
#include <cmath>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>

namespace cleave::planner {
namespace {

// Values that print as 1000 with three significant digits take the next unit up ("1 Gbps",
// not "1e+03 Mbps").
constexpr double ROUNDS_UP = 0.9995;

struct Unit {
  std::string_view name;
  double scale;
};

// "<number><spaces><unit>" with the unit one of `units` (exact, case-sensitive: "Mbps" is not "MBps").
Result<double> parseWithUnits(std::string_view text, std::initializer_list<Unit> units, std::string_view what) {
  std::string_view trimmed = text;
  while (!trimmed.empty() && trimmed.front() == ' ') trimmed.remove_prefix(1);
  while (!trimmed.empty() && trimmed.back() == ' ') trimmed.remove_suffix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  std::string accepted;
  for (const Unit& u : units) accepted += fmt::format("{}'{}'", accepted.empty() ? "" : ", ", u.name);
  if (ec != std::errc() || !std::isfinite(value))
    return Error{fmt::format("'{}' is not a {}: expected a number and a unit ({})", text, what, accepted)};
  std::string_view unit(end, static_cast<size_t>(trimmed.data() + trimmed.size() - end));
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  for (const Unit& u : units)
    if (unit == u.name) {
      if (value < 0) return Error{fmt::format("'{}' is negative: a {} must be at least 0", text, what)};
      return value * u.scale;
    }
  return Error{fmt::format("'{}' has unit '{}', which is not a {} unit ({})", text, unit, what, accepted)};
}

}  // namespace

Result<double> parseBandwidth(std::string_view text) {
  return parseWithUnits(text,
                        {{"bps", 1 / 8.0}, {"kbps", 1e3 / 8}, {"Mbps", 1e6 / 8}, {"Gbps", 1e9 / 8},
                         {"B/s", 1}, {"kB/s", 1e3}, {"MB/s", 1e6}, {"GB/s", 1e9}},
                        "bandwidth");
}

Result<int64_t> parseBytes(std::string_view text) {
  Result<double> value = parseWithUnits(text,
                                        {{"", 1}, {"B", 1}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
                                         {"TB", 1e12}, {"KiB", 1024.0}, {"MiB", 1048576.0},
                                         {"GiB", 1073741824.0}, {"TiB", 1099511627776.0}},
                                        "size");
  if (!value) return value.error();
  if (*value > 9e18) return Error{fmt::format("'{}' is too large a size", text)};
  return static_cast<int64_t>(std::llround(*value));
}

Result<double> parseSeconds(std::string_view text) {
  return parseWithUnits(text, {{"us", 1e-6}, {"ms", 1e-3}, {"s", 1}}, "time");
}

Result<double> parseRate(std::string_view text) {
  return parseWithUnits(text,
                        {{"", 1}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"MAC/s", 1},
                         {"kMAC/s", 1e3}, {"MMAC/s", 1e6}, {"GMAC/s", 1e9}, {"TMAC/s", 1e12}},
                        "MAC rate");
}

Result<double> parseJoules(std::string_view text) {
  return parseWithUnits(text, {{"pJ", 1e-12}, {"nJ", 1e-9}, {"uJ", 1e-6}, {"mJ", 1e-3}, {"J", 1}}, "energy");
}

std::string formatBytes(int64_t bytes) {
  double b = static_cast<double>(bytes);
  if (bytes >= (int64_t{1} << 30)) return fmt::format("{:.2f} GiB", b / (1 << 30));
  if (bytes >= (int64_t{1} << 20)) return fmt::format("{:.2f} MiB", b / (1 << 20));
  if (bytes >= 1024) return fmt::format("{:.1f} KiB", b / 1024);
  return fmt::format("{} B", bytes);
}

std::string formatBandwidth(double bytesPerSecond) {
  double bits = bytesPerSecond * 8;
  for (auto [scale, unit] : {std::pair{1e9, "Gbps"}, {1e6, "Mbps"}, {1e3, "kbps"}})
    if (bits >= scale * ROUNDS_UP) return fmt::format("{:.3g} {}", bits / scale, unit);
  return fmt::format("{:.3g} bps", bits);
}

std::string formatSeconds(double seconds) {
  if (seconds >= ROUNDS_UP) return fmt::format("{:.3g} s", seconds);
  if (seconds >= 1e-3 * ROUNDS_UP) return fmt::format("{:.3g} ms", seconds * 1e3);
  return fmt::format("{:.3g} us", seconds * 1e6);
}

std::string formatRate(double perSecond) {
  for (auto [scale, suffix] : {std::pair{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}})
    if (perSecond >= scale * ROUNDS_UP) return fmt::format("{:.3g}{}", perSecond / scale, suffix);
  return fmt::format("{:.3g}", perSecond);
}

std::string formatJoules(double joules) {
  for (auto [scale, suffix] : {std::pair{1.0, "J"}, {1e-3, "mJ"}, {1e-6, "uJ"}, {1e-9, "nJ"}})
    if (joules >= scale * ROUNDS_UP) return fmt::format("{:.3g} {}", joules / scale, suffix);
  return fmt::format("{:.3g} pJ", joules / 1e-12);
}

}  // namespace cleave::planner
