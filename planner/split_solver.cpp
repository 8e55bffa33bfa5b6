#include "planner/split_solver.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "planner/units.h"

namespace cleave::planner {
namespace {

// A partial plan ending at some position on the current device: its cost and where it came
// from (the position this device's stage began at, and the rank of the entry there one device
// earlier).
struct Entry {
  double cost = 0;
  int64_t begin = 0;
  uint32_t previousRank = 0;
};

// For every position q: the best partial plans having run nodes [0, q) with the data on one device.
using Row = std::vector<std::vector<Entry>>;

void insertBest(std::vector<Entry>& best, const Entry& entry, size_t keep) {
  if (best.size() == keep && entry.cost >= best.back().cost) return;
  auto at = std::upper_bound(best.begin(), best.end(), entry.cost,
                             [](double cost, const Entry& e) { return cost < e.cost; });
  best.insert(at, entry);
  if (best.size() > keep) best.pop_back();
}

class RouteSearch {
 public:
  RouteSearch(const CostModel& model, size_t keep) : model_(model), keep_(keep), positions_(model.positions()) {}

  Row firstRow(size_t device) {
    Row row(static_cast<size_t>(positions_) + 1);
    for (int64_t q = 0; q <= positions_ && model_.fits(device, 0, q); ++q)
      row[static_cast<size_t>(q)].push_back({model_.stageCost(device, 0, q), 0, 0});
    noteReach(row);
    return row;
  }

  // The row for `next` after `row` on `device`: a hop at p, then `next` runs [p, q).
  Row extend(const Row& row, size_t device, size_t next) {
    Row out(row.size());
    for (int64_t p = 0; p <= positions_; ++p) {
      const std::vector<Entry>& here = row[static_cast<size_t>(p)];
      if (here.empty()) continue;
      double hop = model_.hopCost(device, next, p);
      for (int64_t q = p; q <= positions_ && model_.fits(next, p, q); ++q) {
        double stage = model_.stageCost(next, p, q);
        std::vector<Entry>& best = out[static_cast<size_t>(q)];
        // `here` is sorted, so once one extension is too dear to keep, the rest are too.
        for (uint32_t r = 0; r < here.size(); ++r) {
          double cost = here[r].cost + hop + stage;
          if (best.size() == keep_ && cost >= best.back().cost) break;
          insertBest(best, {cost, p, r}, keep_);
        }
      }
    }
    noteReach(out);
    return out;
  }

  // Plans ending at the last row of `rows` (rows[i] on route[i]).
  std::vector<Plan> plans(const std::vector<size_t>& route, const std::vector<const Row*>& rows) const {
    std::vector<Plan> result;
    const std::vector<Entry>& last = (*rows.back())[static_cast<size_t>(positions_)];
    for (uint32_t rank = 0; rank < last.size(); ++rank) {
      std::vector<int64_t> cuts(route.size() - 1);
      int64_t position = positions_;
      uint32_t r = rank;
      for (size_t depth = route.size(); depth-- > 0;) {
        const Entry& e = (*rows[depth])[static_cast<size_t>(position)][r];
        if (depth > 0) cuts[depth - 1] = e.begin;
        position = e.begin;
        r = e.previousRank;
      }
      result.push_back(model_.evaluate(route, cuts));
    }
    return result;
  }

  int64_t furthestReach() const { return reach_; }

 private:
  void noteReach(const Row& row) {
    for (int64_t q = positions_; q > reach_; --q)
      if (!row[static_cast<size_t>(q)].empty()) reach_ = q;
  }

  const CostModel& model_;
  size_t keep_;
  int64_t positions_;
  int64_t reach_ = -1;
};

// Keeps the `keep` cheapest plans seen, in the order found among equal costs.
void mergeBest(std::vector<Plan>& best, std::vector<Plan> found, size_t keep) {
  for (Plan& plan : found) {
    auto at = std::upper_bound(best.begin(), best.end(), plan.cost,
                               [](double cost, const Plan& p) { return cost < p.cost; });
    best.insert(at, std::move(plan));
  }
  if (best.size() > keep) best.resize(keep);
}

std::string explainInfeasible(const CostModel& model, int64_t reach) {
  const PlanningProblem& problem = model.problem();
  const std::vector<DeviceProfile>& devices = problem.fleet.devices;
  if (reach < 0)
    return fmt::format("no feasible split plan: the source '{}' cannot hold the input ({})",
                       devices[problem.source].name, formatBytes(model.peakBytes(0, 0)));
  if (reach >= model.positions())
    return fmt::format("no feasible split plan: every node fits somewhere, but the result ({}) cannot be relayed "
                       "to the sink '{}' by the devices on any route",
                       formatBytes(model.peakBytes(reach, reach)), devices[problem.sink].name);
  const NodeCost& node = problem.model.nodes[static_cast<size_t>(reach)];
  std::string why;
  for (size_t d = 0; d < devices.size(); ++d) {
    MemoryShortfall m = model.memory(d, reach, reach + 1);
    std::vector<std::string> lacks;
    if (m.ramNeeded > m.ramAvailable)
      lacks.push_back(fmt::format("{} more RAM (needs {}, has {})", formatBytes(m.ramNeeded - m.ramAvailable),
                                  formatBytes(m.ramNeeded), formatBytes(m.ramAvailable)));
    if (m.flashNeeded > m.flashAvailable)
      lacks.push_back(fmt::format("{} more flash (needs {}, has {})", formatBytes(m.flashNeeded - m.flashAvailable),
                                  formatBytes(m.flashNeeded), formatBytes(m.flashAvailable)));
    if (!m.missingPrecision.empty()) lacks.push_back(fmt::format("{} kernels (its `precisions`)", m.missingPrecision));
    why += lacks.empty() ? fmt::format("; '{}' could hold it but no route reaches it there in order", devices[d].name)
                         : fmt::format("; '{}' lacks {}", devices[d].name, fmt::join(lacks, " and "));
  }
  return fmt::format("no feasible split plan: no device can run node '{}' (position {}), the smallest stage "
                     "that must come next{}",
                     node.name, reach, why);
}

}  // namespace

std::vector<std::vector<size_t>> simpleRoutes(const Fleet& fleet, size_t source, size_t sink, size_t maxRoutes,
                                              bool* truncated) {
  std::vector<std::vector<size_t>> routes;
  std::vector<size_t> path{source};
  std::vector<bool> onPath(fleet.devices.size(), false);
  onPath[source] = true;
  bool cut = false;
  auto walk = [&](auto&& self, size_t at) -> void {
    if (at == sink) {
      if (routes.size() == maxRoutes) cut = true;
      else routes.push_back(path);
      return;
    }
    for (size_t next = 0; next < fleet.devices.size() && !cut; ++next) {
      if (onPath[next] || fleet.bytesPerSecond(at, next) <= 0) continue;
      onPath[next] = true;
      path.push_back(next);
      self(self, next);
      path.pop_back();
      onPath[next] = false;
    }
  };
  walk(walk, source);
  if (truncated) *truncated = cut;
  return routes;
}

std::vector<Plan> solveSplitOnRoute(const CostModel& model, const std::vector<size_t>& route, size_t keep) {
  RouteSearch search(model, keep);
  std::vector<Row> rows;
  rows.push_back(search.firstRow(route[0]));
  for (size_t i = 1; i < route.size(); ++i) rows.push_back(search.extend(rows.back(), route[i - 1], route[i]));
  std::vector<const Row*> pointers;
  for (const Row& row : rows) pointers.push_back(&row);
  return search.plans(route, pointers);
}

Result<SplitResult> solveSplit(const CostModel& model, const SplitOptions& options) {
  const PlanningProblem& problem = model.problem();
  const Fleet& fleet = problem.fleet;
  size_t keep = std::max<size_t>(options.keep, 1);
  RouteSearch search(model, keep);
  SplitResult result;

  // Depth-first over simple paths; rows[i] belongs to path[i] and is shared by all extensions.
  std::vector<size_t> path{problem.source};
  std::vector<Row> rows{search.firstRow(problem.source)};
  std::vector<bool> onPath(fleet.devices.size(), false);
  onPath[problem.source] = true;
  auto walk = [&](auto&& self) -> void {
    size_t at = path.back();
    if (at == problem.sink) {
      if (result.routesSearched == options.maxRoutes) {
        result.routesTruncated = true;
        return;
      }
      ++result.routesSearched;
      std::vector<const Row*> pointers;
      for (const Row& row : rows) pointers.push_back(&row);
      mergeBest(result.plans, search.plans(path, pointers), keep);
      return;
    }
    const Row& last = rows.back();
    bool anyReached = std::any_of(last.begin(), last.end(), [](const auto& entries) { return !entries.empty(); });
    if (!anyReached) return;
    for (size_t next = 0; next < fleet.devices.size() && !result.routesTruncated; ++next) {
      if (onPath[next] || fleet.bytesPerSecond(at, next) <= 0) continue;
      rows.push_back(search.extend(rows.back(), at, next));
      path.push_back(next);
      onPath[next] = true;
      self(self);
      onPath[next] = false;
      path.pop_back();
      rows.pop_back();
    }
  };
  walk(walk);

  if (result.plans.empty()) {
    if (result.routesSearched == 0 && search.furthestReach() >= 0 && problem.source != problem.sink) {
      bool anyRoute = !simpleRoutes(fleet, problem.source, problem.sink, 1).empty();
      if (!anyRoute)
        return Error{fmt::format("no route of links leads from the source '{}' to the sink '{}'",
                                 fleet.devices[problem.source].name, fleet.devices[problem.sink].name)};
    }
    return Error{explainInfeasible(model, search.furthestReach())};
  }
  return result;
}

}  // namespace cleave::planner
