#include "planner/plan_switch.h"

namespace cleave::planner {

PlanningProblem withLinkBandwidthsScaled(PlanningProblem problem, double factor) {
  for (Link& link : problem.fleet.links) {
    link.bytesPerSecond *= factor;
    link.reverseBytesPerSecond *= factor;
  }
  return problem;
}

bool PlanSwitch::offer(CostBand current, CostBand candidate, double nowSeconds) {
  if (!clearlyBetter(current, candidate)) {
    betterSince_.reset();
    return false;
  }
  if (!betterSince_) betterSince_ = nowSeconds;
  if (nowSeconds - *betterSince_ < hold_) return false;
  betterSince_.reset();
  return true;
}

}  // namespace cleave::planner
