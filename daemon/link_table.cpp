#include "daemon/link_table.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "planner/units.h"

namespace cleave::daemon {

LinkTable::LinkTable(const planner::Fleet& fleet) {
  for (const planner::Link& link : fleet.links) {
    const std::string& a = fleet.devices[link.a].name;
    const std::string& b = fleet.devices[link.b].name;
    directions_.push_back({a, b, {link.bytesPerSecond, link.rttSeconds}, std::nullopt, std::nullopt});
    directions_.push_back({b, a, {link.reverseBytesPerSecond, link.rttSeconds}, std::nullopt, std::nullopt});
  }
}

LinkDirection* LinkTable::find(const std::string& from, const std::string& to) {
  auto it = std::find_if(directions_.begin(), directions_.end(),
                         [&](const LinkDirection& d) { return d.from == from && d.to == to; });
  return it == directions_.end() ? nullptr : &*it;
}

bool LinkTable::measure(const std::string& from, const std::string& to, LinkFigures figures) {
  LinkDirection* direction = find(from, to);
  if (!direction) return false;
  direction->measured = figures;
  return true;
}

Status LinkTable::pin(const std::string& from, const std::string& to, double bytesPerSecond,
                      std::optional<double> rttSeconds) {
  LinkDirection* direction = find(from, to);
  if (!direction) return Error{fmt::format("no link joins '{}' and '{}' in the topology", from, to)};
  if (!(bytesPerSecond > 0) || !std::isfinite(bytesPerSecond)) return Error{"the bandwidth must be more than 0"};
  if (rttSeconds && (!(*rttSeconds >= 0) || !std::isfinite(*rttSeconds))) return Error{"the RTT must be 0 or more"};
  direction->pinned = LinkFigures{bytesPerSecond, rttSeconds.value_or(direction->effective().rttSeconds)};
  return {};
}

Status LinkTable::clear(const std::string& from, const std::string& to) {
  LinkDirection* direction = find(from, to);
  if (!direction) return Error{fmt::format("no link joins '{}' and '{}' in the topology", from, to)};
  direction->pinned.reset();
  return {};
}

void LinkTable::applyTo(planner::Fleet& fleet) const {
  for (size_t i = 0; i < fleet.links.size() && 2 * i + 1 < directions_.size(); ++i) {
    const LinkFigures forward = directions_[2 * i].effective(), reverse = directions_[2 * i + 1].effective();
    fleet.links[i].bytesPerSecond = forward.bytesPerSecond;
    fleet.links[i].reverseBytesPerSecond = reverse.bytesPerSecond;
    fleet.links[i].rttSeconds = std::max(forward.rttSeconds, reverse.rttSeconds);
  }
}

LinkSnapshot LinkTable::snapshot() const {
  LinkSnapshot out;
  for (const LinkDirection& d : directions_) out[{d.from, d.to}] = d.effective().bytesPerSecond;
  return out;
}

std::optional<std::string> LinkTable::biggestMove(const LinkSnapshot& before,
                                                  const std::set<std::pair<std::string, std::string>>& preferred) const {
  for (bool onlyPreferred : {true, false}) {
    const LinkDirection* moved = nullptr;
    double largest = 0.0, from = 0.0;
    for (const LinkDirection& d : directions_) {
      if (onlyPreferred && !preferred.contains({d.from, d.to})) continue;
      auto it = before.find({d.from, d.to});
      if (it == before.end() || it->second <= 0) continue;
      const double factor = std::abs(std::log(d.effective().bytesPerSecond / it->second));
      if (factor > largest) {
        largest = factor;
        moved = &d;
        from = it->second;
      }
    }
    if (moved && largest > 1e-9)
      return fmt::format("link {} -> {} moved from {} to {}{}", moved->from, moved->to, planner::formatBandwidth(from),
                         planner::formatBandwidth(moved->effective().bytesPerSecond), moved->pinned ? " (pinned)" : "");
  }
  return std::nullopt;
}

}  // namespace cleave::daemon
