// What the daemon believes about each direction of each topology link: the topology's figures,
// the latest estimate the sending agent reported, and an operator's pin, which wins over both
// (`cleavectl link set A B --bandwidth X` until `--clear`). Plans are made with the effective
// figures; a plan change names the link that moved most since the plan before it. Pure.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "planner/fleet.h"
#include "runtime/result.h"

namespace cleave::daemon {

struct LinkFigures {
  double bytesPerSecond = 0.0;
  double rttSeconds = 0.0;
};

// One direction of a topology link.
struct LinkDirection {
  std::string from, to;
  LinkFigures declared;
  std::optional<LinkFigures> measured;
  std::optional<LinkFigures> pinned;
  LinkFigures effective() const { return pinned ? *pinned : measured ? *measured : declared; }
};

// Effective bandwidth per direction, keyed by (from, to): what a plan was made with.
using LinkSnapshot = std::map<std::pair<std::string, std::string>, double>;

class LinkTable {
 public:
  explicit LinkTable(const planner::Fleet& fleet);

  // An agent's estimate of its link to `to`. False when no topology link joins them (a data-plane
  // peer that is not a planning link, such as a result's way back to the origin).
  bool measure(const std::string& from, const std::string& to, LinkFigures figures);
  // Pins from -> to (rtt nullopt: keep the current effective RTT); an error when no such link.
  Status pin(const std::string& from, const std::string& to, double bytesPerSecond, std::optional<double> rttSeconds);
  Status clear(const std::string& from, const std::string& to);

  // Writes the effective figures into `fleet`'s links (the fleet the table was made from). A
  // link's one RTT is the larger of its two directions'.
  void applyTo(planner::Fleet& fleet) const;
  LinkSnapshot snapshot() const;
  // "link a -> b moved from 20.0 Mbps to 2.0 Mbps" for the direction whose effective bandwidth
  // changed by the largest factor since `before`, looking first at the `preferred` directions
  // (those the old or new plan sends on); nullopt when none changed.
  std::optional<std::string> biggestMove(const LinkSnapshot& before,
                                         const std::set<std::pair<std::string, std::string>>& preferred = {}) const;

  const std::vector<LinkDirection>& directions() const { return directions_; }

 private:
  LinkDirection* find(const std::string& from, const std::string& to);

  std::vector<LinkDirection> directions_;  // 2 per fleet link: a -> b, then b -> a
};

}  // namespace cleave::daemon
