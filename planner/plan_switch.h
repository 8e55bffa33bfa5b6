// Hysteresis for re-planning: a better plan replaces the current one only when it stays better
// although every link estimate may be off by a margin, and keeps that up for a hold time, so
// noisy link estimates do not make plans flap. Pure: the caller re-costs both plans under its
// latest estimates, lowered and raised by the margin (withLinkBandwidthsScaled), and passes the
// time.
//
// Why a margin on the estimates rather than on the cost: what is uncertain is the measured
// bandwidth, and most of a plan's latency on a slow, distant link is round trips that every plan
// pays alike. A rule like "10% cheaper" then never lets a 2 ms saving through on an 80 ms LTE
// link, however certain it is; a rule on the estimates switches once the bandwidth has left the
// band around the break-even point, wherever that is.
#pragma once

#include <optional>

#include "planner/problem.h"

namespace cleave::planner {

// One plan's cost with every link slower by the margin, and with every link faster by it.
struct CostBand {
  double slowLinks = 0;
  double fastLinks = 0;
};

// `problem` with every link's bandwidth, both directions, multiplied by `factor` (RTTs kept).
PlanningProblem withLinkBandwidthsScaled(PlanningProblem problem, double factor);

class PlanSwitch {
 public:
  // margin: the fraction by which link estimates may be off (0.1: 10%); a candidate must be
  // cheaper with all of them lowered by it and with all of them raised by it.
  // holdSeconds: how long it must keep that up.
  PlanSwitch(double margin, double holdSeconds) : margin_(margin), hold_(holdSeconds) {}

  double margin() const { return margin_; }
  // The candidate is cheaper at both ends of the band (at every point between them too, for a
  // cost that is a fixed part plus bytes over bandwidth).
  static bool clearlyBetter(CostBand current, CostBand candidate) {
    return candidate.slowLinks < current.slowLinks && candidate.fastLinks < current.fastLinks;
  }
  // Called whenever the estimates change (or periodically) with both plans' cost bands.
  // True: adopt the candidate now (the hold restarts for the next one).
  bool offer(CostBand current, CostBand candidate, double nowSeconds);
  // Forget any hold in progress (a plan was installed for another reason).
  void reset() { betterSince_.reset(); }
  // When the candidate started being clearly better; nullopt when it is not.
  std::optional<double> betterSince() const { return betterSince_; }

 private:
  double margin_;
  double hold_;
  std::optional<double> betterSince_;
};

}  // namespace cleave::planner
