#include "planner/bandwidth_curve.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "planner/cost_model.h"
#include "planner/planner.h"

namespace cleave::planner {
namespace {

// cost(x) = alpha + beta * x with x = seconds per byte on the swept link.
struct Line {
  double alpha = 0, beta = 0;
  double at(double x) const { return alpha + beta * x; }
};

// x where two lines of different slope cross.
double crossing(const Line& a, const Line& b) { return (b.alpha - a.alpha) / (a.beta - b.beta); }

// A plan evaluated at x, as a line in x: beta is what it sends over from -> to.
Line lineOf(const Plan& plan, const PlanningProblem& problem, size_t from, size_t to, double x) {
  double bytes = 0;
  for (size_t i = 0; i + 1 < plan.stages.size(); ++i)
    if (plan.stages[i].device == from && plan.stages[i + 1].device == to)
      bytes += static_cast<double>(plan.stages[i].sendBytes);
  double beta = problem.objective.latencyWeight * bytes;
  return {plan.cost - beta * x, beta};
}

Status checkRange(double low, double high) {
  if (!(low > 0) || !(high > low) || !std::isfinite(high))
    return Error{fmt::format("bandwidth range must satisfy 0 < low < high (got {} to {} bytes/s)", low, high)};
  return {};
}

// Merges neighbours holding the same assignment; segments are ascending in bandwidth.
void mergeSame(std::vector<CurveSegment>& segments) {
  std::vector<CurveSegment> merged;
  for (CurveSegment& s : segments) {
    if (!merged.empty() && merged.back().plan.sameAssignment(s.plan)) merged.back().highBytesPerSecond = s.highBytesPerSecond;
    else merged.push_back(std::move(s));
  }
  segments = std::move(merged);
}

// A sweep's result before costing: each plan optimal from its x on; pieces cover [xLow, xHigh]
// in ascending x (descending bandwidth).
struct Piece {
  double x;
  Plan plan;
};

// The curve of `pieces`, each plan costed by `evaluateAt(plan, x)` at the low-bandwidth end of
// its range, in ascending bandwidth, neighbours with one assignment merged.
template <typename EvaluateAt>
Result<BandwidthCurve> curveOfPieces(size_t from, size_t to, const std::vector<Piece>& pieces, double xHigh,
                                     EvaluateAt&& evaluateAt) {
  BandwidthCurve curve{from, to, {}};
  for (size_t i = pieces.size(); i-- > 0;) {
    const double start = pieces[i].x, end = i + 1 < pieces.size() ? pieces[i + 1].x : xHigh;
    if (start >= end && pieces.size() > 1) continue;
    Result<Plan> plan = evaluateAt(pieces[i].plan, end);
    if (!plan) return plan.error();
    curve.segments.push_back({1 / end, 1 / start, std::move(*plan)});
  }
  mergeSame(curve.segments);
  return curve;
}

}  // namespace

const CurveSegment& BandwidthCurve::at(double bytesPerSecond) const {
  auto it = std::upper_bound(segments.begin(), segments.end(), bytesPerSecond,
                             [](double bw, const CurveSegment& s) { return bw < s.highBytesPerSecond; });
  return it == segments.end() ? segments.back() : *it;
}

Result<BandwidthCurve> pairCurve(const PlanningProblem& problem, double low, double high) {
  CLEAVE_TRY(checkRange(low, high));
  size_t a = problem.source, b = problem.sink;
  const Link* link = problem.fleet.linkBetween(a, b);
  if (a == b || !link) return Error{"the pair curve needs the source and the sink joined by one link"};
  PlanningProblem local = problem;  // plans are evaluated at each segment's own bandwidth
  CostModel model(local);
  int64_t positions = model.positions();
  const Objective& objective = problem.objective;

  struct Candidate {
    Line line;
    int64_t cut;
  };
  std::vector<Candidate> lines;
  for (int64_t p = 0; p <= positions; ++p) {
    if (!model.fits(a, 0, p) || !model.fits(b, p, positions)) continue;
    double bytes = static_cast<double>(problem.model.cutBytes[static_cast<size_t>(p)]);
    double alpha = model.stageCost(a, 0, p) + model.stageCost(b, p, positions) +
                   objective.cost(link->rttSeconds / 2, model.transferJoules(a, p));
    lines.push_back({{alpha, objective.latencyWeight * bytes}, p});
  }
  if (lines.empty()) return Error{"no cut fits both devices' memory"};

  // Lower envelope for x from -inf to +inf: steepest first; equal slopes keep the lowest line.
  std::stable_sort(lines.begin(), lines.end(), [](const Candidate& l, const Candidate& r) {
    return l.line.beta != r.line.beta ? l.line.beta > r.line.beta : l.line.alpha < r.line.alpha;
  });
  std::vector<Candidate> hull;
  for (const Candidate& c : lines) {
    if (!hull.empty() && hull.back().line.beta == c.line.beta) continue;
    while (hull.size() >= 2 && crossing(hull[hull.size() - 2].line, c.line) <=
                                   crossing(hull[hull.size() - 2].line, hull.back().line))
      hull.pop_back();
    hull.push_back(c);
  }

  // Clip to x in [1/high, 1/low]; hull order is ascending x, i.e. descending bandwidth.
  double xLow = 1 / high, xHigh = 1 / low;
  BandwidthCurve curve{a, b, {}};
  for (size_t i = 0; i < hull.size(); ++i) {
    double start = i == 0 ? -std::numeric_limits<double>::infinity() : crossing(hull[i - 1].line, hull[i].line);
    double end = i + 1 == hull.size() ? std::numeric_limits<double>::infinity() : crossing(hull[i].line, hull[i + 1].line);
    start = std::max(start, xLow);
    end = std::min(end, xHigh);
    if (start >= end) continue;
    local.fleet.setBytesPerSecond(a, b, 1 / end);
    CostModel at(local);
    curve.segments.push_back({1 / end, 1 / start, at.evaluate({a, b}, {hull[i].cut})});
  }
  std::reverse(curve.segments.begin(), curve.segments.end());
  if (curve.segments.empty()) {  // one line is best on the whole range, but the hull clipped it away numerically
    local.fleet.setBytesPerSecond(a, b, low);
    CostModel at(local);
    curve.segments.push_back({low, high, at.evaluate({a, b}, {hull.back().cut})});
  }
  mergeSame(curve.segments);
  return curve;
}

Result<BandwidthCurve> sweepLink(const PlanningProblem& problem, size_t from, size_t to, double low, double high,
                                 const SplitOptions& options) {
  CLEAVE_TRY(checkRange(low, high));
  if (!problem.fleet.linkBetween(from, to)) return Error{"no link joins the two devices to sweep"};
  SplitOptions best = options;
  best.keep = 1;
  auto solveAt = [&](double x) -> Result<Plan> {
    PlanningProblem local = problem;
    local.fleet.setBytesPerSecond(from, to, 1 / x);
    CostModel model(local);
    Result<SplitResult> solved = solveSplit(model, best);
    if (!solved) return solved.error();
    return solved->plans.front();
  };

  std::vector<Piece> pieces;
  // Fills in breakpoints between x1 (optimum p1) and x2 (optimum p2).
  auto refine = [&](auto&& self, double x1, const Plan& p1, double x2, const Plan& p2, int depth) -> Status {
    if (p1.sameAssignment(p2) || depth > 60) return {};
    Line l1 = lineOf(p1, problem, from, to, x1), l2 = lineOf(p2, problem, from, to, x2);
    if (!(l1.beta > l2.beta)) {  // parallel (equally good) lines: keep p1 up to x2
      return {};
    }
    double x = std::clamp(crossing(l1, l2), x1, x2);
    Result<Plan> p3 = solveAt(x);
    if (!p3) return p3.error();
    double scale = std::max({1.0, std::abs(l1.at(x))});
    if (p3->cost >= l1.at(x) - 1e-12 * scale || x == x1 || x == x2) {
      pieces.push_back({x, p2});
      return {};
    }
    CLEAVE_TRY(self(self, x1, p1, x, *p3, depth + 1));
    pieces.push_back({x, *p3});
    return self(self, x, *p3, x2, p2, depth + 1);
  };

  double xLow = 1 / high, xHigh = 1 / low;
  Result<Plan> first = solveAt(xLow);
  if (!first) return first.error();
  Result<Plan> last = solveAt(xHigh);
  if (!last) return last.error();
  pieces.push_back({xLow, *first});
  CLEAVE_TRY(refine(refine, xLow, *first, xHigh, *last, 0));

  return curveOfPieces(from, to, pieces, xHigh, [&](const Plan& plan, double x) -> Result<Plan> {
    PlanningProblem local = problem;
    local.fleet.setBytesPerSecond(from, to, 1 / x);
    return CostModel(local).evaluate(plan.route(), plan.cuts());
  });
}

Result<BandwidthCurve> sweepLinkAnyStrategy(const PlanningProblem& problem, size_t from, size_t to, double low,
                                            double high, Strategy strategy, const std::vector<Strategy>& allowed) {
  const bool splitOnly = strategy == Strategy::Split ||
                         (strategy == Strategy::Auto && allowed == std::vector<Strategy>{Strategy::Split});
  if (splitOnly) return sweepLink(problem, from, to, low, high);
  CLEAVE_TRY(checkRange(low, high));
  if (!problem.fleet.linkBetween(from, to)) return Error{"no link joins the two devices to sweep"};
  auto at = [&](double x) {
    PlanningProblem local = problem;
    local.fleet.setBytesPerSecond(from, to, 1 / x);
    return local;
  };
  auto solveAt = [&](double x) -> Result<Plan> {
    Result<PlanSet> set = makePlan(at(x), strategy, allowed);
    if (!set) return set.error();
    return set->plans.front();
  };
  auto costAt = [&](const Plan& plan, double x) {
    Result<Plan> p = reevaluatePlan(at(x), plan);
    return p ? p->cost : std::numeric_limits<double>::infinity();
  };

  std::vector<Piece> pieces;
  auto refine = [&](auto&& self, double x1, const Plan& p1, double x2, const Plan& p2, int depth) -> Status {
    if (p1.sameAssignment(p2) || depth > 60) return {};
    // p1 is no worse at x1, p2 no worse at x2: bisect for where p2 takes over.
    double a = x1, b = x2;
    while (b - a > 1e-9 * b) {
      const double m = 0.5 * (a + b);
      (costAt(p1, m) <= costAt(p2, m) ? a : b) = m;
    }
    const double x = b;
    Result<Plan> p3 = solveAt(x);
    if (!p3) return p3.error();
    const double best = std::min(costAt(p1, x), costAt(p2, x));
    if (p3->sameAssignment(p1) || p3->sameAssignment(p2) || !(p3->cost < best * (1 - 1e-9)) || x >= x2) {
      pieces.push_back({x, p2});
      return {};
    }
    CLEAVE_TRY(self(self, x1, p1, x, *p3, depth + 1));
    pieces.push_back({x, *p3});
    return self(self, x, *p3, x2, p2, depth + 1);
  };
  const double xLow = 1 / high, xHigh = 1 / low;
  Result<Plan> first = solveAt(xLow);
  if (!first) return first.error();
  Result<Plan> last = solveAt(xHigh);
  if (!last) return last.error();
  pieces.push_back({xLow, *first});
  CLEAVE_TRY(refine(refine, xLow, *first, xHigh, *last, 0));

  return curveOfPieces(from, to, pieces, xHigh,
                       [&](const Plan& plan, double x) { return reevaluatePlan(at(x), plan); });
}

}  // namespace cleave::planner
