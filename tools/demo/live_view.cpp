#include "tools/demo/live_view.h"

#include <fmt/format.h>

#include <algorithm>

#include "planner/units.h"

namespace cleave::demo {

std::string renderLiveView(const LiveState& s, bool colour) {
  const std::string bold = colour ? "\033[1m" : "", dim = colour ? "\033[2m" : "", off = colour ? "\033[0m" : "";
  constexpr int BAR = 40;
  const double fraction = s.total ? static_cast<double>(s.done) / static_cast<double>(s.total) : 0.0;
  const int filled = std::clamp(static_cast<int>(fraction * BAR + 0.5), 0, BAR);
  std::string out = fmt::format("{}{}{}\n\n", bold, s.title, off);
  out += fmt::format("[{}{}] {}/{} images  {:.0f} s\n", std::string(static_cast<size_t>(filled), '#'),
                     std::string(static_cast<size_t>(BAR - filled), '.'), s.done, s.total, s.elapsedSeconds);
  const size_t answered = s.done - std::min(s.done, s.failed);
  out += fmt::format("accuracy {}  latency p50 {}  p95 {}  failed {}\n\n",
                     answered ? fmt::format("{:.2f}%", 100.0 * static_cast<double>(s.correct) / static_cast<double>(answered))
                              : std::string("-"),
                     s.p50 ? planner::formatSeconds(*s.p50) : "-", s.p95 ? planner::formatSeconds(*s.p95) : "-", s.failed);
  out += fmt::format("{}plan epoch {}{}  (predicted {})\n", bold, s.epoch, off, planner::formatSeconds(s.predictedSeconds));
  for (const std::string& line : s.placement) out += "  " + line + "\n";
  out += fmt::format("\n{}links{}              true         measured\n", bold, off);
  for (const LiveLink& l : s.links)
    out += fmt::format("  {:<18} {:>11}  {:>11}\n", l.from + " -> " + l.to, planner::formatBandwidth(l.trueBytesPerSecond),
                       l.measuredBytesPerSecond ? planner::formatBandwidth(*l.measuredBytesPerSecond) : "-");
  out += fmt::format("\n{}re-plans{}\n", bold, off);
  if (s.recentReplans.empty()) out += fmt::format("  {}none yet{}\n", dim, off);
  for (const std::string& line : s.recentReplans) out += "  " + line + "\n";
  return out;
}

}  // namespace cleave::demo
