// The best split as a function of one link's bandwidth (the Neurosurgeon curve): bandwidth
// ranges and the plan that is optimal across each. With it the daemon re-plans in O(log
// segments) when that link's estimate moves, instead of solving again.
//
// Along one link, every plan's cost is linear in x = 1 / bandwidth (cost = alpha + beta * x,
// beta = latency weight x the bytes it sends over the link), so the best cost is the lower
// envelope of lines. Two constructions:
//  - pairCurve: source and sink joined by one link (Neurosurgeon's setting). One line per cut
//    position, lower envelope by the convex hull trick, O(P log P).
//  - sweepLink: any topology and route set. Exact parametric search (Eisner-Severance): solve
//    at both ends; where the optima differ, solve again where their lines cross; one solve per
//    breakpoint plus one per segment.
#pragma once

#include <vector>

#include "planner/plan.h"
#include "planner/problem.h"
#include "planner/split_solver.h"
#include "runtime/result.h"

namespace cleave::planner {

struct CurveSegment {
  double lowBytesPerSecond = 0;   // the plan is optimal from here ...
  double highBytesPerSecond = 0;  // ... to here
  Plan plan;                      // figures as predicted at lowBytesPerSecond
};

struct BandwidthCurve {
  size_t from = 0, to = 0;  // the link direction swept
  std::vector<CurveSegment> segments;  // ascending bandwidth, adjacent, distinct plans

  // The segment whose range holds `bytesPerSecond` (clamped to the swept range).
  const CurveSegment& at(double bytesPerSecond) const;
};

// Requires a link source -> sink; plans are on the route {source, sink}.
Result<BandwidthCurve> pairCurve(const PlanningProblem& problem, double lowBytesPerSecond, double highBytesPerSecond);

Result<BandwidthCurve> sweepLink(const PlanningProblem& problem, size_t from, size_t to, double lowBytesPerSecond,
                                 double highBytesPerSecond, const SplitOptions& options = {});

// The same for any strategy (Auto: the cheapest of `allowed` at each bandwidth). A plan of
// stage graphs is not a line in x (its latency is a maximum over branches), so crossings are
// found by bisection on the two plans' re-costed figures, to a relative 1e-9 in x, and the
// solver is asked again there; split alone takes the exact path above.
Result<BandwidthCurve> sweepLinkAnyStrategy(const PlanningProblem& problem, size_t from, size_t to,
                                            double lowBytesPerSecond, double highBytesPerSecond, Strategy strategy,
                                            const std::vector<Strategy>& allowed);

}  // namespace cleave::planner
