#include "planner/plan_switch.h"

namespace cleave::planner {

bool PlanSwitch::offer(double currentCost, double candidateCost, double nowSeconds) {
  if (!(candidateCost <= currentCost * (1 - margin_))) {
    betterSince_.reset();
    return false;
  }
  if (!betterSince_) betterSince_ = nowSeconds;
  if (nowSeconds - *betterSince_ < hold_) return false;
  betterSince_.reset();
  return true;
}

}  // namespace cleave::planner
