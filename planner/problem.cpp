#include "planner/problem.h"

#include <cmath>

#include <fmt/format.h>

namespace cleave::planner {

const char* strategyName(Strategy strategy) {
  switch (strategy) {
    case Strategy::Split: return "split";
    case Strategy::Clio: return "clio";
    case Strategy::Nonn: return "nonn";
    case Strategy::EarlyExit: return "early_exit";
    case Strategy::Auto: return "auto";
  }
  return "auto";
}

std::optional<Strategy> strategyFromName(const std::string& name) {
  for (Strategy s : {Strategy::Split, Strategy::Clio, Strategy::Nonn, Strategy::EarlyExit, Strategy::Auto})
    if (name == strategyName(s)) return s;
  return std::nullopt;
}

std::string Objective::describe() const {
  if (energyWeight == 0) return "latency";
  if (latencyWeight == 0) return "energy";
  return fmt::format("weighted ({} x seconds + {} x joules)", latencyWeight, energyWeight);
}

size_t ExitStatistics::combinations() const {
  size_t n = 1;
  for (const std::vector<double>& c : candidates) n *= c.size();
  return n;
}

size_t ExitStatistics::row(const std::vector<size_t>& choice) const {
  size_t r = 0;
  for (size_t e = 0; e < candidates.size(); ++e) r = r * candidates[e].size() + choice.at(e);
  return r;
}

std::vector<size_t> ExitStatistics::choice(size_t row) const {
  std::vector<size_t> c(candidates.size());
  for (size_t e = candidates.size(); e-- > 0;) {
    c[e] = row % candidates[e].size();
    row /= candidates[e].size();
  }
  return c;
}

int64_t ExitStatistics::correctTotal(size_t row) const {
  int64_t total = 0;
  for (int64_t c : correct.at(row)) total += c;
  return total;
}

std::optional<size_t> ExitStatistics::lastBlockOnlyRow() const {
  for (size_t row = 0; row < exited.size(); ++row)
    if (!exited[row].empty() && exited[row].back() == samples) return row;
  return std::nullopt;
}

double accuracyLowerBound(int64_t correct, int64_t samples) {
  if (samples <= 0) return 0;
  constexpr double z = 1.6448536269514722;  // one-sided 95%
  const double n = static_cast<double>(samples), p = static_cast<double>(correct) / n;
  const double centre = p + z * z / (2 * n);
  const double spread = z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n));
  return (centre - spread) / (1 + z * z / n);
}

}  // namespace cleave::planner
