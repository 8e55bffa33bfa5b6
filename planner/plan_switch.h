// Hysteresis for re-planning: a better plan replaces the current one only when it has been
// cheaper by a margin for a hold time, so noisy link estimates do not make plans flap. Pure:
// the caller re-costs both plans under its latest estimates and passes the time.
#pragma once

#include <optional>

namespace cleave::planner {

class PlanSwitch {
 public:
  // margin: the fraction of the current cost a candidate must save (0.1 = 10% cheaper);
  // holdSeconds: how long it must keep saving that much.
  PlanSwitch(double margin, double holdSeconds) : margin_(margin), hold_(holdSeconds) {}

  // Called whenever the estimates change (or periodically) with both plans' costs under them.
  // True: adopt the candidate now (the hold restarts for the next one).
  bool offer(double currentCost, double candidateCost, double nowSeconds);
  // Forget any hold in progress (a plan was installed for another reason).
  void reset() { betterSince_.reset(); }
  // When the candidate started being better enough; nullopt when it is not.
  std::optional<double> betterSince() const { return betterSince_; }

 private:
  double margin_;
  double hold_;
  std::optional<double> betterSince_;
};

}  // namespace cleave::planner
